//! compare's lean HTTP/2 client for single calls (gRPC, REST h2c, Connect over HTTP/2): one
//! connection shared by the calling tasks and driven by them, with no task of its own and none
//! per stream, as h2load drives nghttp2. A call appends its frames to the connection's output
//! (the request's header block made once per connection, [`header_block`]) and the first task
//! to find nobody writing writes everything queued, after letting the others add theirs: frames
//! leave in batches. Replies are read by whichever waiting task finds nobody reading; it
//! completes every stream its read finished, wakes their tasks, and hands the reading on when
//! its own reply is whole. Flow control both ways, SETTINGS, PING, GOAWAY and RST_STREAM are
//! honoured; replies are decoded by [`hpack`] and checked in full by the unary client. The `h2` crate stays
//! for the streams and chats, which need its generality.

pub(crate) mod frames;
mod header_block;
pub(crate) mod hpack;

use std::{
    collections::{HashMap, VecDeque},
    future::poll_fn,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};

use self::frames::Frame;
use super::{
    check::{CallError, NotBegun},
    http2::{Http2Request, Received},
    tls::{Alpn, ClientTls},
    wire::{CountingStream, MAX_REPLY_BYTES, WireCounters},
};
use contract::settings::Http2Windows;

/// HTTP/2's initial window, for the connection and for each stream (RFC 9113 §6.9.2).
const INITIAL_WINDOW: i64 = 65_535;

/// What a server's HPACK table holds until its SETTINGS say otherwise.
const DEFAULT_HEADER_TABLE: usize = 4_096;

/// RST_STREAM's CANCEL: the client no longer wants the reply.
const CANCEL: u32 = 0x8;

/// RST_STREAM's REFUSED_STREAM: the server did no work on the stream (RFC 9113 §8.7).
const REFUSED_STREAM: u32 = 0x7;

/// A handle on one lean HTTP/2 connection; clones share it.
#[derive(Clone)]
pub(crate) struct LeanH2(Arc<Connection>);

impl std::fmt::Debug for LeanH2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeanH2")
    }
}

struct Connection {
    state: Mutex<State>,
    reader: tokio::sync::Mutex<ReadSide>,
    writer: tokio::sync::Mutex<WriteHalf<CountingStream>>,
    /// The body of the request every call sends.
    body: Bytes,
}

/// What the reading task holds.
struct ReadSide {
    half: ReadHalf<CountingStream>,
    buffer: BytesMut,
    decoder: hpack::Decoder,
    /// A header block that CONTINUATION frames are still adding to: its stream, whether its
    /// HEADERS ended the stream, and its bytes so far.
    continued: Option<(u32, bool, BytesMut)>,
}

/// The connection's state, behind a lock no task holds across an await.
struct State {
    /// Frames waiting to be written, and whether a task is writing.
    out: BytesMut,
    writing: bool,
    streams: HashMap<u32, Slot>,
    next_stream: u32,
    open: usize,
    max_open: usize,
    /// Tasks waiting for the server to allow another stream.
    waiting_to_open: VecDeque<Waker>,
    /// The request's fields, and their header blocks (remade if the server's HPACK table is
    /// smaller than the default before the first one is sent), and whether the first has gone.
    fields: Vec<(String, String)>,
    blocks: header_block::HeaderBlocks,
    first_sent: bool,
    /// Flow control of what we send: the connection's window, each new stream's, and the
    /// streams whose bodies wait for window.
    send_window: i64,
    initial_stream_window: i64,
    blocked: VecDeque<u32>,
    max_frame_size: usize,
    /// Flow control of what we receive: the windows we advertised, and what has arrived on
    /// the connection since its last WINDOW_UPDATE.
    windows: Http2Windows,
    received: u32,
    /// Why no new call can start, once the connection is closed or going away.
    closed: Option<String>,
}

/// One call's stream.
#[derive(Default)]
struct Slot {
    status: Option<StatusCode>,
    headers: HeaderMap,
    body: BytesMut,
    trailers: Option<HeaderMap>,
    done: Option<Result<Received, CallError>>,
    waker: Option<Waker>,
    unsent: Bytes,
    send_window: i64,
    received: u32,
}

impl LeanH2 {
    /// Opens an h2c connection (prior knowledge; `h2` by ALPN over TLS) to `addr` for calls of
    /// `request`, with these receive windows, counting its bytes.
    pub(crate) async fn connect(
        addr: SocketAddr,
        windows: Http2Windows,
        tls: Option<&ClientTls>,
        counters: Arc<WireCounters>,
        request: &Http2Request,
    ) -> anyhow::Result<Self> {
        let stream = CountingStream::connect(addr, tls, Alpn::H2, counters).await?;
        let (read, mut write) = tokio::io::split(stream);
        let mut preface = BytesMut::from(frames::PREFACE);
        frames::put_settings(
            &mut preface,
            &[
                (frames::SETTINGS_ENABLE_PUSH, 0),
                (frames::SETTINGS_INITIAL_WINDOW_SIZE, windows.stream),
            ],
        );
        if i64::from(windows.connection) > INITIAL_WINDOW {
            frames::put_window_update(&mut preface, 0, windows.connection - INITIAL_WINDOW as u32);
        }
        write.write_all(&preface).await?;
        let uri = &request.uri;
        let mut fields = vec![
            (":method".to_owned(), request.method.to_string()),
            (":scheme".to_owned(), uri.scheme_str().unwrap_or("http").to_owned()),
            (":path".to_owned(), uri.path_and_query().map_or("/", |p| p.as_str()).to_owned()),
            (":authority".to_owned(), uri.authority().map_or(String::new(), ToString::to_string)),
        ];
        for (name, value) in &request.headers {
            fields.push((name.as_str().to_owned(), value.to_str()?.to_owned()));
        }
        let blocks = encode(&fields, DEFAULT_HEADER_TABLE);
        let state = State {
            out: BytesMut::with_capacity(16 * 1024),
            writing: false,
            streams: HashMap::new(),
            next_stream: 1,
            open: 0,
            max_open: usize::MAX,
            waiting_to_open: VecDeque::new(),
            fields,
            blocks,
            first_sent: false,
            send_window: INITIAL_WINDOW,
            initial_stream_window: INITIAL_WINDOW,
            blocked: VecDeque::new(),
            max_frame_size: frames::DEFAULT_MAX_FRAME_SIZE,
            windows,
            received: 0,
            closed: None,
        };
        let side = ReadSide {
            half: read,
            buffer: BytesMut::with_capacity(64 * 1024),
            decoder: hpack::Decoder::new(DEFAULT_HEADER_TABLE),
            continued: None,
        };
        Ok(Self(Arc::new(Connection {
            state: Mutex::new(state),
            reader: tokio::sync::Mutex::new(side),
            writer: tokio::sync::Mutex::new(write),
            body: request.body.clone(),
        })))
    }

    /// Whether both handles are on the same connection.
    pub(crate) fn is(&self, other: &LeanH2) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// One call of the connection's request: the reply read whole.
    pub(crate) async fn call(&self) -> Result<Received, CallError> {
        let id = poll_fn(|cx| self.open_stream(cx)).await?;
        let stream = StreamGuard { connection: self, id };
        self.flush().await;
        let reply = self.reply(id).await;
        std::mem::forget(stream); // the reply took the slot out
        reply
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a stream when the server allows another: its HEADERS, and as much of its body
    /// as the windows let go, queued for writing.
    fn open_stream(&self, cx: &mut Context<'_>) -> Poll<Result<u32, CallError>> {
        let mut state = self.state();
        if let Some(why) = &state.closed {
            let detail = format!("HTTP/2: {why}");
            return Poll::Ready(Err(CallError::NotBegun { why: NotBegun::ConnectionGone, detail }));
        }
        if state.open >= state.max_open {
            state.waiting_to_open.push_back(cx.waker().clone());
            return Poll::Pending;
        }
        let state = &mut *state;
        let id = state.next_stream;
        state.next_stream += 2;
        state.open += 1;
        let block = if state.first_sent { &state.blocks.later } else { &state.blocks.first };
        state.first_sent = true;
        let body = self.0.body.clone();
        frames::put_headers(&mut state.out, id, block, body.is_empty(), state.max_frame_size);
        let slot =
            Slot { unsent: body, send_window: state.initial_stream_window, ..Slot::default() };
        state.streams.insert(id, slot);
        send_body(state, id);
        Poll::Ready(Ok(id))
    }

    /// Writes what is queued, unless another task is already at it (it writes ours too).
    async fn flush(&self) {
        {
            let mut state = self.state();
            if state.writing || state.out.is_empty() {
                return;
            }
            state.writing = true;
        }
        let writing = WritingGuard(self);
        // The other tasks ready to run add their frames first: they leave in one write.
        tokio::task::yield_now().await;
        let mut writer = self.0.writer.lock().await;
        loop {
            let chunk = {
                let mut state = self.state();
                if state.out.is_empty() {
                    // Under the same lock as the check: a task that queues after it writes.
                    state.writing = false;
                    break;
                }
                state.out.split().freeze()
            };
            if let Err(error) = writer.write_all(&chunk).await {
                let mut wake = Vec::new();
                close(&mut self.state(), format!("writing: {error}"), &mut wake);
                wake.into_iter().for_each(Waker::wake);
                return; // the guard clears the flag
            }
        }
        std::mem::forget(writing);
    }

    /// Waits for stream `id`'s reply, reading the connection whenever nobody else is. The
    /// reader never waits on a write: a server that cannot write its replies may stop reading
    /// (the h2 crate's does), so a reader blocked on writing to it would never read again. So
    /// the reader writes only what the socket takes while it reads, and leaves the rest queued.
    async fn reply(&self, id: u32) -> Result<Received, CallError> {
        let mut side = match poll_fn(|cx| self.done_or_read(id, cx)).await {
            Ok(done) => return done,
            Err(side) => ReaderTurn { connection: self, side: Some(side) },
        };
        let mut writing: Option<ReaderWrites<'_>> = None;
        loop {
            if let Some(done) = self.take_done(id) {
                drop(writing); // what it could not write goes back in the queue
                drop(side);
                self.flush().await;
                return done;
            }
            if writing.as_ref().is_none_or(|writing| writing.unwritten.is_empty()) {
                let writer = writing.take().map(|writing| writing.release());
                writing = writer.or_else(|| self.take_writing()).and_then(|writer| {
                    let unwritten = self.take_out();
                    // `take_out` gave the writing back when nothing was queued.
                    (!unwritten.is_empty()).then_some(ReaderWrites {
                        connection: self,
                        writer: Some(writer),
                        unwritten,
                    })
                });
            }
            let event = {
                let side = side.side();
                if side.buffer.capacity() - side.buffer.len() < 16 * 1024 {
                    side.buffer.reserve(64 * 1024);
                }
                match writing.as_mut() {
                    Some(ReaderWrites { writer: Some(writer), unwritten, .. }) => {
                        tokio::select! {
                            read = side.half.read_buf(&mut side.buffer) => Event::Read(read),
                            wrote = writer.write(unwritten) => Event::Wrote(wrote),
                        }
                    }
                    _ => Event::Read(side.half.read_buf(&mut side.buffer).await),
                }
            };
            let mut wake = Vec::new();
            {
                let mut state = self.state();
                match event {
                    Event::Wrote(Ok(written)) => {
                        if let Some(writing) = writing.as_mut() {
                            writing.unwritten.advance(written);
                        }
                    }
                    Event::Wrote(Err(error)) => {
                        close(&mut state, format!("writing: {error}"), &mut wake)
                    }
                    Event::Read(Ok(0)) => {
                        close(&mut state, "the server closed the connection".into(), &mut wake)
                    }
                    Event::Read(Err(error)) => {
                        close(&mut state, format!("reading: {error}"), &mut wake)
                    }
                    Event::Read(Ok(_)) => {
                        if let Err(error) = read_frames(&mut state, side.side(), &mut wake) {
                            close(&mut state, error, &mut wake);
                        }
                    }
                }
            }
            wake.into_iter().for_each(Waker::wake);
        }
    }

    /// The writing, if nobody has it: the flag set, and the writer's lock.
    fn take_writing(&self) -> Option<tokio::sync::MutexGuard<'_, WriteHalf<CountingStream>>> {
        let mut state = self.state();
        if state.writing || state.out.is_empty() {
            return None;
        }
        let writer = self.0.writer.try_lock().ok()?;
        state.writing = true;
        Some(writer)
    }

    /// What is queued for writing; when nothing is, the writing is given back.
    fn take_out(&self) -> Bytes {
        let mut state = self.state();
        if state.out.is_empty() {
            state.writing = false;
        }
        state.out.split().freeze()
    }

    /// Bytes the reader took to write and did not: back in front of what was queued since,
    /// and the writing given back.
    fn requeue(&self, unwritten: Bytes) {
        let mut state = self.state();
        if !unwritten.is_empty() {
            let queued = state.out.split();
            state.out.extend_from_slice(&unwritten);
            state.out.unsplit(queued);
        }
        state.writing = false;
    }

    /// The reply, if the stream is done; else the reading side, if nobody holds it; else
    /// pending until the reader completes the stream or hands the reading on.
    #[allow(clippy::type_complexity)]
    fn done_or_read(
        &self,
        id: u32,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Result<Received, CallError>, tokio::sync::MutexGuard<'_, ReadSide>>> {
        let mut state = self.state();
        let Some(slot) = state.streams.get_mut(&id) else {
            return Poll::Ready(Ok(Err(CallError::Transport("HTTP/2: the stream is gone".into()))));
        };
        if slot.done.is_some() {
            drop(state);
            return Poll::Ready(Ok(self.take_done(id).expect("done")));
        }
        if let Ok(side) = self.0.reader.try_lock() {
            return Poll::Ready(Err(side));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn take_done(&self, id: u32) -> Option<Result<Received, CallError>> {
        let mut state = self.state();
        state.streams.get(&id)?.done.as_ref()?;
        state.streams.remove(&id)?.done
    }
}

fn encode(fields: &[(String, String)], table_size: usize) -> header_block::HeaderBlocks {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    header_block::encode(&fields, table_size)
}

/// Queues as much of stream `id`'s unsent body as the windows allow, in DATA frames; the rest
/// waits in `blocked` for a WINDOW_UPDATE.
fn send_body(state: &mut State, id: u32) {
    let Some(slot) = state.streams.get_mut(&id) else { return };
    while !slot.unsent.is_empty() {
        let room = state.send_window.min(slot.send_window).min(state.max_frame_size as i64);
        if room <= 0 {
            if !state.blocked.contains(&id) {
                state.blocked.push_back(id);
            }
            return;
        }
        let length = slot.unsent.len().min(room as usize);
        let chunk = slot.unsent.split_to(length);
        let end = if slot.unsent.is_empty() { frames::END_STREAM } else { 0 };
        frames::put_header(&mut state.out, length, frames::DATA, end, id);
        state.out.extend_from_slice(&chunk);
        state.send_window -= length as i64;
        slot.send_window -= length as i64;
    }
}

/// Handles every whole frame the reader has: replies completed, windows and settings applied,
/// acknowledgements queued. An error is the connection's.
fn read_frames(
    state: &mut State,
    side: &mut ReadSide,
    wake: &mut Vec<Waker>,
) -> Result<(), String> {
    while let Some(frame) = frames::next_frame(&mut side.buffer).map_err(|e| e.to_string())? {
        if let Some((stream, _, _)) = &side.continued {
            if frame.kind != frames::CONTINUATION || frame.stream != *stream {
                return Err("a header block interrupted before its end".into());
            }
        }
        match frame.kind {
            frames::DATA => data(state, &frame, wake),
            frames::HEADERS => {
                side.continued =
                    Some((frame.stream, frame.end_stream(), BytesMut::from(&frame.payload[..])));
                if frame.end_headers() {
                    header_block(state, side, wake)?;
                }
            }
            frames::CONTINUATION => {
                let Some((_, _, block)) = &mut side.continued else {
                    return Err("a CONTINUATION with no header block to continue".into());
                };
                block.extend_from_slice(&frame.payload);
                if frame.end_headers() {
                    header_block(state, side, wake)?;
                }
            }
            frames::RST_STREAM => {
                let code = frames::u31_of(&frame.payload);
                let detail = format!("HTTP/2: the server reset the stream (error code {code:#x})");
                let error = match code {
                    REFUSED_STREAM => CallError::NotBegun { why: NotBegun::RefusedStream, detail },
                    _ => CallError::Transport(detail),
                };
                finish(state, frame.stream, Err(error), wake);
            }
            frames::SETTINGS if frame.flags & frames::ACK == 0 => settings(state, &frame)?,
            frames::PING if frame.flags & frames::ACK == 0 => {
                frames::put_header(&mut state.out, 8, frames::PING, frames::ACK, 0);
                state.out.extend_from_slice(&frame.payload);
            }
            frames::GOAWAY => goaway(state, &frame, wake),
            frames::WINDOW_UPDATE => {
                let increment = i64::from(frames::u31_of(&frame.payload));
                match frame.stream {
                    0 => state.send_window += increment,
                    id => {
                        if let Some(slot) = state.streams.get_mut(&id) {
                            slot.send_window += increment;
                        }
                    }
                }
                unblock(state);
            }
            frames::PUSH_PROMISE => return Err("a PUSH_PROMISE, though push is off".into()),
            _ => {} // SETTINGS and PING acknowledgements, PRIORITY, unknown kinds
        }
    }
    Ok(())
}

fn data(state: &mut State, frame: &Frame, wake: &mut Vec<Waker>) {
    let length = frame.payload.len() as u32;
    state.received += length;
    if state.received >= state.windows.connection / 2 {
        frames::put_window_update(&mut state.out, 0, state.received);
        state.received = 0;
    }
    let Some(slot) = state.streams.get_mut(&frame.stream).filter(|slot| slot.done.is_none()) else {
        return; // a stream this client gave up on
    };
    if slot.body.len() + frame.payload.len() > MAX_REPLY_BYTES {
        frames::put_rst_stream(&mut state.out, frame.stream, CANCEL);
        let too_big =
            format!("HTTP/2: a reply body larger than compare reads ({MAX_REPLY_BYTES} bytes)");
        finish(state, frame.stream, Err(CallError::Transport(too_big)), wake);
        return;
    }
    slot.body.extend_from_slice(&frame.payload);
    slot.received += length;
    if frame.end_stream() {
        complete(state, frame.stream, wake);
    } else if slot.received >= state.windows.stream / 2 {
        frames::put_window_update(&mut state.out, frame.stream, slot.received);
        slot.received = 0;
    }
}

/// A whole header block: the reply's head, or its trailers. Decoded whatever became of its
/// stream, since the server's table changes with every block.
fn header_block(
    state: &mut State,
    side: &mut ReadSide,
    wake: &mut Vec<Waker>,
) -> Result<(), String> {
    let (stream, end_stream, block) = side.continued.take().expect("a block was begun");
    let mut status = None;
    let mut fields = HeaderMap::new();
    let mut invalid = None;
    side.decoder
        .decode(&block, |name, value| {
            if name == b":status" {
                status = StatusCode::from_bytes(value).ok();
                return;
            }
            match (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                (Ok(name), Ok(value)) => {
                    fields.append(name, value);
                }
                _ => invalid = Some(String::from_utf8_lossy(name).into_owned()),
            }
        })
        .map_err(|error| format!("an HPACK block that does not decode: {error}"))?;
    let Some(slot) = state.streams.get_mut(&stream).filter(|slot| slot.done.is_none()) else {
        return Ok(());
    };
    if let Some(name) = invalid {
        let wrong = CallError::WrongReply(format!("an invalid header field {name:?}"));
        finish(state, stream, Err(wrong), wake);
        return Ok(());
    }
    match (slot.status, status) {
        (None, Some(status)) => (slot.status, slot.headers) = (Some(status), fields),
        (Some(_), None) => slot.trailers = Some(fields),
        _ => {
            let wrong = CallError::WrongReply(
                "a reply's header block without :status, or a second one".into(),
            );
            finish(state, stream, Err(wrong), wake);
            return Ok(());
        }
    }
    if end_stream {
        complete(state, stream, wake);
    }
    Ok(())
}

fn settings(state: &mut State, frame: &Frame) -> Result<(), String> {
    for (id, value) in frames::settings_of(&frame.payload) {
        match id {
            frames::SETTINGS_INITIAL_WINDOW_SIZE => {
                let delta = i64::from(value) - state.initial_stream_window;
                state.initial_stream_window = i64::from(value);
                for slot in state.streams.values_mut() {
                    slot.send_window += delta;
                }
            }
            frames::SETTINGS_MAX_FRAME_SIZE => state.max_frame_size = value as usize,
            frames::SETTINGS_MAX_CONCURRENT_STREAMS => state.max_open = value as usize,
            // The first request, sent before these SETTINGS came, assumed the default.
            frames::SETTINGS_HEADER_TABLE_SIZE if (value as usize) < DEFAULT_HEADER_TABLE => {
                if state.first_sent {
                    return Err(format!(
                        "a server whose HPACK table holds {value} bytes, under the \
                         {DEFAULT_HEADER_TABLE} the first request assumed"
                    ));
                }
                state.blocks = encode(&state.fields, value as usize);
            }
            _ => {}
        }
    }
    frames::put_header(&mut state.out, 0, frames::SETTINGS, frames::ACK, 0);
    unblock(state);
    Ok(())
}

/// The server will take no new streams; those above its last were never begun, and fail as
/// such (the unary client sends them again on another connection).
fn goaway(state: &mut State, frame: &Frame, wake: &mut Vec<Waker>) {
    let last = frames::u31_of(&frame.payload[..4]);
    let code = u32::from_be_bytes([
        frame.payload[4],
        frame.payload[5],
        frame.payload[6],
        frame.payload[7],
    ]);
    let why = format!("the server sent GOAWAY (error code {code:#x}, last stream {last})");
    let refused: Vec<u32> = state.streams.keys().copied().filter(|&id| id > last).collect();
    for id in refused {
        let detail = format!("HTTP/2: {why}: this call was not taken");
        finish(state, id, Err(CallError::NotBegun { why: NotBegun::AboveGoaway, detail }), wake);
    }
    state.closed.get_or_insert(why);
    wake.extend(state.waiting_to_open.drain(..));
}

/// Streams whose bodies waited for window send what they now can.
fn unblock(state: &mut State) {
    for _ in 0..state.blocked.len() {
        let Some(id) = state.blocked.pop_front() else { break };
        send_body(state, id);
    }
}

/// The stream's reply is whole.
fn complete(state: &mut State, id: u32, wake: &mut Vec<Waker>) {
    let Some(slot) = state.streams.get_mut(&id) else { return };
    let Some(status) = slot.status else {
        let wrong = CallError::WrongReply("a stream that ended without a reply head".into());
        return finish(state, id, Err(wrong), wake);
    };
    let reply = (
        status,
        std::mem::take(&mut slot.headers),
        slot.body.split().freeze(),
        slot.trailers.take(),
    );
    finish(state, id, Ok(reply), wake);
}

/// Ends stream `id` with `result` for its task to take, and lets another stream open.
fn finish(state: &mut State, id: u32, result: Result<Received, CallError>, wake: &mut Vec<Waker>) {
    let Some(slot) = state.streams.get_mut(&id).filter(|slot| slot.done.is_none()) else { return };
    slot.done = Some(result);
    slot.unsent = Bytes::new();
    wake.extend(slot.waker.take());
    state.open -= 1;
    wake.extend(state.waiting_to_open.pop_front());
}

/// The connection is gone: every stream fails with why, and no new one starts.
fn close(state: &mut State, why: String, wake: &mut Vec<Waker>) {
    let ids: Vec<u32> = state.streams.keys().copied().collect();
    for id in ids {
        finish(state, id, Err(CallError::Transport(format!("HTTP/2: {why}"))), wake);
    }
    state.closed.get_or_insert(why);
    state.out.clear();
    wake.extend(state.waiting_to_open.drain(..));
}

/// The writing, while the reader has it: the writer's lock and what it has yet to write.
/// Dropped, it puts what is unwritten back in front of the queue and gives the writing back.
struct ReaderWrites<'a> {
    connection: &'a LeanH2,
    writer: Option<tokio::sync::MutexGuard<'a, WriteHalf<CountingStream>>>,
    unwritten: Bytes,
}

impl<'a> ReaderWrites<'a> {
    /// Everything written: the writer's lock, kept for the next batch.
    fn release(mut self) -> tokio::sync::MutexGuard<'a, WriteHalf<CountingStream>> {
        self.writer.take().expect("held until released")
    }
}

impl Drop for ReaderWrites<'_> {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.connection.requeue(std::mem::take(&mut self.unwritten));
        }
    }
}

/// What the reader's wait ended with.
enum Event {
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
}

/// Holds the reading side; when dropped (the reply is whole, or the call was given up), hands
/// the reading on to a task still waiting for its reply.
struct ReaderTurn<'a> {
    connection: &'a LeanH2,
    side: Option<tokio::sync::MutexGuard<'a, ReadSide>>,
}

impl ReaderTurn<'_> {
    fn side(&mut self) -> &mut ReadSide {
        self.side.as_mut().expect("held until dropped")
    }
}

impl Drop for ReaderTurn<'_> {
    fn drop(&mut self) {
        drop(self.side.take());
        let waiting = {
            let mut state = self.connection.state();
            state.streams.values_mut().find_map(|slot| slot.waker.take())
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
    }
}

/// Clears the writing flag when the writing task ends early (its call given up, or a failed
/// write).
struct WritingGuard<'a>(&'a LeanH2);

impl Drop for WritingGuard<'_> {
    fn drop(&mut self) {
        self.0.state().writing = false;
    }
}

/// A stream whose call was given up before its reply: forgotten, and cancelled if still open.
struct StreamGuard<'a> {
    connection: &'a LeanH2,
    id: u32,
}

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        let mut wake = Vec::new();
        let mut state = self.connection.state();
        if state.streams.get(&self.id).is_some_and(|slot| slot.done.is_none()) {
            finish(&mut state, self.id, Err(CallError::Transport("given up".into())), &mut wake);
            if state.closed.is_none() {
                frames::put_rst_stream(&mut state.out, self.id, CANCEL);
            }
        }
        state.streams.remove(&self.id);
        drop(state);
        wake.into_iter().for_each(Waker::wake);
    }
}
