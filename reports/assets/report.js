// herd's HTML report: draws the charts from the data WriteHTML puts in
// window.HERD (x in seconds since the drill started). uPlot draws; this
// file only configures it and marks the phases on every chart.
(function () {
  "use strict";
  var d = window.HERD;
  var charts = [];
  var dpr = window.devicePixelRatio || 1;
  var colors = {
    connected: "#1d4ed8", connects: "#15803d", errors: "#b91c1c", violations: "#7f1d1d",
    p50: "#1d4ed8", p99: "#c2410c", outage: "rgba(220, 38, 38, 0.10)", end: "#b91c1c", mark: "#374151"
  };

  function secs(v) { return v == null ? "–" : v.toFixed(1) + " s"; }
  function num(v) { return v == null ? "–" : (Math.round(v * 10) / 10).toLocaleString("en-US"); }
  function ms(v) {
    if (v == null) return "–";
    return v >= 1000 ? (v / 1000).toFixed(2) + " s" : (v >= 10 ? v.toFixed(0) : v.toFixed(2)) + " ms";
  }

  // marks draws the outage phases as bands, the outage ends as lines and,
  // on the recovery chart, the T-values after the outage's end.
  function marks(withRecovery) {
    return {
      hooks: {
        drawClear: [function (u) {
          var c = u.ctx, b = u.bbox;
          c.save();
          c.fillStyle = colors.outage;
          d.phases.forEach(function (p) {
            if (p.kind !== "outage") return;
            var x0 = Math.max(u.valToPos(p.from, "x", true), b.left);
            var x1 = Math.min(u.valToPos(p.to, "x", true), b.left + b.width);
            if (x1 > x0) c.fillRect(x0, b.top, x1 - x0, b.height);
          });
          c.restore();
        }],
        draw: [function (u) {
          var c = u.ctx, b = u.bbox;
          c.save();
          c.font = Math.round(11 * dpr) + "px system-ui, sans-serif";
          c.textBaseline = "top";
          c.textAlign = "left";
          function line(x, color, dash, label, row) {
            var px = u.valToPos(x, "x", true);
            if (px < b.left || px > b.left + b.width) return;
            c.strokeStyle = color;
            c.lineWidth = dpr;
            c.setLineDash(dash.map(function (v) { return v * dpr; }));
            c.beginPath();
            c.moveTo(px, b.top);
            c.lineTo(px, b.top + b.height);
            c.stroke();
            if (label) {
              c.fillStyle = color;
              c.fillText(label, px + 3 * dpr, b.top + (2 + 13 * row) * dpr);
            }
          }
          d.outageEnds.forEach(function (x) { line(x, colors.end, [], "outage ends", 0); });
          if (withRecovery) {
            d.recoveryMarks.forEach(function (m, i) { line(m.at, colors.mark, [4, 3], m.label, i + 1); });
          }
          c.restore();
        }]
      }
    };
  }

  function xAxis() {
    return { label: "seconds since the drill started", labelSize: 20, values: function (u, v) { return v.map(function (s) { return s + " s"; }); } };
  }

  function make(id, title, series, data, opts) {
    var el = document.getElementById(id);
    if (!el) return;
    opts = opts || {};
    var o = {
      title: title,
      width: el.clientWidth || 800,
      height: opts.height || 240,
      scales: { x: { time: false }, y: opts.yScale || { range: function (u, lo, hi) { return [0, Math.max(hi, 1) * 1.05]; } } },
      axes: [xAxis(), { label: opts.yLabel || "", labelSize: 20, size: 64, values: opts.yValues }],
      series: [{ label: "t", value: function (u, v) { return secs(v); } }].concat(series),
      plugins: [marks(!!opts.recovery)],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true }
    };
    var u = new uPlot(o, data, el);
    u.herdHeight = o.height;
    charts.push({ u: u, el: el });
  }

  function perSecond(counts) {
    var k = 1000 / d.stepMs;
    return counts.map(function (n) { return n * k; });
  }

  function cumulative(counts) {
    var t = 0;
    return counts.map(function (n) { t += n; return t; });
  }

  if (d.x && d.x.length > 0) {
    make("chart-recovery", "Connected cameras", [
      { label: "connected", stroke: colors.connected, width: 2, fill: "rgba(29, 78, 216, 0.08)", value: function (u, v) { return num(v); } }
    ], [d.x, d.connected], { recovery: true, yLabel: "cameras", height: 280 });

    make("chart-rates", "Connects and errors per second", [
      { label: "connects/s", stroke: colors.connects, width: 1.5, value: function (u, v) { return num(v); } },
      { label: "errors/s (load shedding not counted)", stroke: colors.errors, width: 1.5, value: function (u, v) { return num(v); } }
    ], [d.x, perSecond(d.connects), perSecond(d.errors)], { yLabel: "per second" });

    if (d.violations) {
      var stepped = uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
      var byClass = d.violationsByClass || [];
      if (byClass.length > 0) {
        // Exposure over time: one line per class, so that the first leak
        // and what followed it stand apart.
        var palette = ["#7f1d1d", "#c2410c", "#a16207", "#4d7c0f", "#0e7490", "#6d28d9", "#be185d", "#334155"];
        var series = byClass.map(function (c, i) {
          return { label: c.class, stroke: palette[i % palette.length], width: 2, paths: stepped, value: function (u, v) { return num(v); } };
        });
        make("chart-violations", "Violations found by class (cumulative)", series,
          [d.x].concat(byClass.map(function (c) { return cumulative(c.values); })), { yLabel: "violations" });
      } else {
        make("chart-violations", "Violations found (cumulative)", [
          { label: "violations", stroke: colors.violations, width: 2, paths: stepped, value: function (u, v) { return num(v); } }
        ], [d.x, cumulative(d.violations)], { yLabel: "violations" });
      }
    }
  }

  (d.latency || []).forEach(function (l) {
    make("chart-latency-" + l.name, l.name, [
      // Points too: a second with values between two without is a lone point.
      { label: "p50", stroke: colors.p50, width: 1.5, spanGaps: false, points: { show: true, size: 4 }, value: function (u, v) { return ms(v); } },
      { label: "p99", stroke: colors.p99, width: 1.5, spanGaps: false, points: { show: true, size: 4 }, value: function (u, v) { return ms(v); } }
    ], [d.latencyX, l.p50, l.p99], {
      height: 210, yLabel: "log scale",
      yScale: { distr: 3, log: 10 },
      yValues: function (u, v) { return v.map(function (x) { return x == null ? "" : ms(x); }); }
    });
  });

  function fit(printing) {
    charts.forEach(function (c) {
      var w = printing ? 680 : c.el.clientWidth;
      if (w > 0) c.u.setSize({ width: w, height: c.u.herdHeight });
    });
  }
  var pending = 0;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { fit(false); }, 100);
  });
  window.addEventListener("beforeprint", function () { fit(true); });
  window.addEventListener("afterprint", function () { fit(false); });

  // How many charts were drawn, for people and for tests.
  document.documentElement.setAttribute("data-herd-charts", String(charts.length));
})();
