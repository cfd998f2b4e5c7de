// A REST greeter as Go's standard library makes natural: net/http and encoding/json, serving
// our REST routes for SayHello (POST /v1/greeter/hello with {"name": …}, and the GET form
// /v1/greeter/hello/{name}) with the same JSON and the same refusal of an empty name, so that
// `compare --rest-target` measures Go's REST beside Go's gRPC and beside ours; and
// POST /v1/greeter/echo/people, whose records are proto3 JSON (int64 as strings, Timestamps as
// RFC 3339), which encoding/json does not write, so golang/protobuf's jsonpb reads and writes
// them, as a Go service using our proto would. People are sent back without our rules'
// checks. HTTP/1.1 only, as net/http serves plain HTTP. Listens on -addr (port 0 picks one)
// and prints the port it got as its first line.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"

	"github.com/golang/protobuf/jsonpb"
	pb "rpcvsrest/helloworld"
)

type helloRequest struct {
	Name string `json:"name"`
}

type helloReply struct {
	Message string `json:"message"`
}

type apiError struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func reply(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func greet(w http.ResponseWriter, name string) {
	if strings.TrimSpace(name) == "" {
		reply(w, http.StatusBadRequest, map[string]apiError{"error": {
			Code: 400, Status: "INVALID_ARGUMENT", Message: "name must not be empty",
		}})
		return
	}
	reply(w, http.StatusOK, helloReply{Message: "Hello " + name})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/greeter/hello", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var request helloRequest
		if err := json.NewDecoder(r.Body).Decode(&request); err != nil {
			reply(w, http.StatusBadRequest, map[string]apiError{"error": {
				Code: 400, Status: "INVALID_ARGUMENT", Message: "invalid JSON body: " + err.Error(),
			}})
			return
		}
		greet(w, request.Name)
	})
	mux.HandleFunc("/v1/greeter/hello/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		greet(w, strings.TrimPrefix(r.URL.Path, "/v1/greeter/hello/"))
	})
	mux.HandleFunc("/v1/greeter/echo/people", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var request pb.PeopleRequest
		if err := (&jsonpb.Unmarshaler{}).Unmarshal(r.Body, &request); err != nil {
			reply(w, http.StatusBadRequest, map[string]apiError{"error": {
				Code: 400, Status: "INVALID_ARGUMENT", Message: "invalid JSON body: " + err.Error(),
			}})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		(&jsonpb.Marshaler{}).Marshal(w, &pb.PeopleReply{People: request.People})
	})
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("failed to listen: %v", err)
	}
	fmt.Println(listener.Addr().(*net.TCPAddr).Port)
	log.Fatal(http.Serve(listener, mux))
}
