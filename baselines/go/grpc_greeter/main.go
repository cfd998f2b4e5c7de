// The seed's Go greeter: grpc-go's own helloworld server (its examples/helloworld/greeter_server),
// which `compare --grpc-target` measures beside ours, plus EchoComplex and EchoPeople, so that
// grpc_bench's complex message (scripts/grpc_bench.sh) and a payload of records can be measured
// too (each sends the request back as it came, without our rules' checks, as grpc_bench's
// servers do). Its messages and stubs are generated from our proto (a superset of the
// example's, wire-compatible). Listens on -addr (port 0 picks one) and prints the port it got
// as its first line, so that a test or script can find it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"

	"google.golang.org/grpc"
	pb "rpcvsrest/helloworld"
)

type server struct {
	pb.UnimplementedGreeterServer
}

// SayHello answers as the example does.
func (s *server) SayHello(ctx context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	return &pb.HelloReply{Message: "Hello " + in.GetName()}, nil
}

// EchoComplex sends grpc_bench's complex message back, as grpc_bench's servers do.
func (s *server) EchoComplex(ctx context.Context, in *pb.ComplexRequest) (*pb.ComplexReply, error) {
	return &pb.ComplexReply{Response: in}, nil
}

// EchoPeople sends the records back.
func (s *server) EchoPeople(ctx context.Context, in *pb.PeopleRequest) (*pb.PeopleReply, error) {
	return &pb.PeopleReply{People: in.GetPeople()}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50061", "address to listen on")
	flag.Parse()
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("failed to listen: %v", err)
	}
	fmt.Println(listener.Addr().(*net.TCPAddr).Port)
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, &server{})
	if err := s.Serve(listener); err != nil {
		log.Fatalf("failed to serve: %v", err)
	}
}
