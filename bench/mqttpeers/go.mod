module github.com/herd-drill/herd/bench/mqttpeers

go 1.26.8

require (
	github.com/eclipse/paho.golang v0.23.0
	github.com/eclipse/paho.mqtt.golang v1.5.1
	github.com/herd-drill/herd v0.0.0
	github.com/mochi-mqtt/server/v2 v2.7.9
	golang.org/x/sync v0.25.0
)

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/net v0.59.0 // indirect
)

replace github.com/herd-drill/herd => ../..
