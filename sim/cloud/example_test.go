package cloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/sim/cloud"
	"github.com/herd-drill/herd/sim/wire"
)

// Example serves the reference target on a loopback port, provisions one
// account, connects its camera, stores an event and reads the Events tab.
func Example() {
	srv, err := cloud.New(cloud.Config{AdminToken: "admin-secret"})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	fleet := `{"account":"acct-1","user_token":"user-secret","devices":[{"device":"cam-1","token":"cam-secret"}]}`
	req, _ := http.NewRequest(http.MethodPost, base+wire.PathFleet, strings.NewReader(fleet))
	req.Header.Set("Authorization", "Bearer admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("provisioning:", resp.StatusCode)

	cam, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+wire.PathConnect,
		http.Header{"Authorization": {"Bearer cam-secret"}})
	if err != nil {
		panic(err)
	}
	var welcome, ack wire.Message
	cam.ReadJSON(&welcome)
	fmt.Println(welcome.Type, welcome.Device, welcome.Account)
	cam.WriteMessage(websocket.TextMessage, wire.Encode(&wire.Message{
		Type: wire.TypeEvent, ID: "cam-1/1", Seq: 1, At: 1764412800123, Kind: "motion", Thumb: []byte("jpeg bytes"),
	}))
	cam.ReadJSON(&ack)
	fmt.Println(ack.Type, ack.ID)

	req, _ = http.NewRequest(http.MethodGet, base+wire.EventsPath("acct-1"), nil)
	req.Header.Set("Authorization", "Bearer user-secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	var page wire.EventsPage
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	for _, e := range page.Events {
		fmt.Println(e.ID, e.Device, e.Kind, e.ThumbURL)
	}

	stop() // closes the camera's socket with 1001
	_, _, err = cam.ReadMessage()
	fmt.Println(err)
	cam.Close()
	fmt.Println("Serve:", <-served)
	// Output:
	// provisioning: 204
	// welcome cam-1 acct-1
	// ack cam-1/1
	// cam-1/1 cam-1 motion /v1/events/cam-1%2F1/thumbnail
	// websocket: close 1001 (going away): target shutting down
	// Serve: <nil>
}
