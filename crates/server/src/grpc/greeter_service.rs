//! `helloworld.Greeter` over gRPC: each method decodes the request, calls the domain and
//! encodes the reply.

use std::pin::Pin;

use futures_util::{Stream, StreamExt, stream};
use tonic::{Request, Response, Status, Streaming};

use super::status::status_of;
use contract::{
    greeter::Greeter,
    proto::{
        self, BatchHelloReply, BatchHelloRequest, ComplexReply, ComplexRequest, HelloReply,
        HelloRequest, HelloStreamRequest, PeopleReply, PeopleRequest, greeter_server,
    },
};

type ReplyStream = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send + 'static>>;

#[derive(Debug, Clone)]
pub struct GreeterService {
    greeter: Greeter,
}

impl GreeterService {
    pub fn new(greeter: Greeter) -> Self {
        Self { greeter }
    }
}

fn reply(message: String) -> HelloReply {
    HelloReply { message }
}

// One method per RPC, each a thin adapter of the same shape (decode, call the domain,
// encode): tonic's generated trait asks for each by name.
#[tonic::async_trait]
impl greeter_server::Greeter for GreeterService {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let message = self.greeter.say_hello(&request.into_inner().name).map_err(status_of)?;
        Ok(Response::new(reply(message)))
    }

    async fn say_hello_again(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let message =
            self.greeter.say_hello_again(&request.into_inner().name).map_err(status_of)?;
        Ok(Response::new(reply(message)))
    }

    type SayHelloStreamReplyStream = ReplyStream;

    async fn say_hello_stream_reply(
        &self,
        request: Request<HelloStreamRequest>,
    ) -> Result<Response<Self::SayHelloStreamReplyStream>, Status> {
        let HelloStreamRequest { name, count } = request.into_inner();
        let greetings = self.greeter.say_hello_stream(&name, count).map_err(status_of)?;
        Ok(Response::new(Box::pin(stream::iter(greetings.map(|m| Ok(reply(m)))))))
    }

    type SayHelloBidiStreamStream = ReplyStream;

    /// Replies in order; the first invalid request ends the stream with its status, as a
    /// unary call would have.
    async fn say_hello_bidi_stream(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<Self::SayHelloBidiStreamStream>, Status> {
        let greeter = self.greeter.clone();
        let replies = request
            .into_inner()
            .map(move |request| {
                let message = greeter.say_hello(&request?.name).map_err(status_of)?;
                Ok(reply(message))
            })
            .scan(false, |failed, result: Result<HelloReply, Status>| {
                if *failed {
                    return std::future::ready(None);
                }
                *failed = result.is_err();
                std::future::ready(Some(result))
            });
        Ok(Response::new(Box::pin(replies)))
    }

    async fn say_hello_batch(
        &self,
        request: Request<BatchHelloRequest>,
    ) -> Result<Response<BatchHelloReply>, Status> {
        let messages =
            self.greeter.say_hello_batch(&request.into_inner().names).map_err(status_of)?;
        Ok(Response::new(BatchHelloReply { replies: messages.into_iter().map(reply).collect() }))
    }

    async fn echo_complex(
        &self,
        request: Request<ComplexRequest>,
    ) -> Result<Response<ComplexReply>, Status> {
        let complex = proto::complex_from_wire(request.into_inner()).map_err(status_of)?;
        let complex = self.greeter.echo_complex(complex).map_err(status_of)?;
        Ok(Response::new(ComplexReply { response: Some(proto::complex_to_wire(complex)) }))
    }

    async fn echo_people(
        &self,
        request: Request<PeopleRequest>,
    ) -> Result<Response<PeopleReply>, Status> {
        let people = proto::people_from_wire(request.into_inner().people).map_err(status_of)?;
        let people = self.greeter.echo_people(people).map_err(status_of)?;
        Ok(Response::new(PeopleReply { people: proto::people_to_wire(people) }))
    }
}
