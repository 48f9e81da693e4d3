# herd's container image: a static binary on an empty base, run as a
# non-root user (65532, as herd k8s's pods expect).
#
#   docker build -t herd:dev .
#   docker build --build-arg VERSION="$(git describe --tags --always)" -t herd:"$(git describe --tags --always)" .

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change reuses the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/herd ./cmd/herd
# A passwd entry names the user for tools that look it up; the empty base
# has none.
RUN echo 'herd:x:65532:65532:herd:/nonexistent:/sbin/nologin' > /out/passwd

FROM scratch
# CA roots, for https:// targets.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/herd /usr/local/bin/herd
ENV PATH=/usr/local/bin
USER 65532:65532
ENTRYPOINT ["herd"]
