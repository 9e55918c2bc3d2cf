//! The HTTP client of every mirror transfer over `http(s)://`: gix's [`Http`] on reqwest, driven
//! by a single-threaded tokio runtime of the transfer's own on the thread that reads the answer.
//!
//! gix's reqwest backend runs each request on a thread of its own, on reqwest's blocking client
//! (itself a runtime thread), and copies the answer into a rendezvous pipe 8 KiB at a time: every
//! frame of a pack crossed threads, each crossing a futex wake and an eventfd write. An initial
//! fetch of a 150 MB pack sent in 4 KiB chunks made 114,000–146,000 voluntary context switches and
//! spent 2–3 s of its 7.5 s in the kernel (`/usr/bin/time -v`, `perf trace -s`). Here the socket,
//! hyper's connection task and the reader share one thread: reading the body polls the connection
//! directly. A request body is written into the runtime's channel and sent while the writer waits.
//!
//! What it keeps of gix's backend: the stall timeout (reqwest's read timeout: no data for that long
//! on the connection ends the transfer, however long the whole takes, also while a request body is
//! being sent to a remote that has stopped taking it), the connect timeout, git's redirect rules (only the first
//! request follows by default, never from https to http, the request's tail kept so the new base
//! URL is known), and gix's errors: a 401 is `PermissionDenied` carrying the `WWW-Authenticate`
//! values (gix then asks for credentials and retries), other statuses read "Received HTTP status N"
//! with reqwest's error as the source.

use std::io::{self, BufRead, Read, Write};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, Bytes};
use gix::error::{Class, ClassificationMarker, ErrorExt};
use gix::protocol::transport::client::blocking_io::http::{
    self as gix_http, GetResponse, Http, PostBodyDataKind, PostResponse,
};
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::AuthenticationRequired;
use gix::protocol::transport::Protocol;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Response, StatusCode};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// The pieces a streamed request body is handed to the connection in, and how many may wait.
const UPLOAD_CHUNK: usize = 1 << 20;
const UPLOAD_CHUNKS_IN_FLIGHT: usize = 2;
/// curl's limit, which git and gix keep.
const MAX_REDIRECTS: usize = 50;
const USER_AGENT: &str = concat!("gitblixt/", env!("CARGO_PKG_VERSION"));

/// The time limits of a transfer's HTTP requests.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// To open the TCP (and TLS) connection.
    pub connect: Duration,
    /// No data from the remote for this long ends the transfer, however long the transfer as a
    /// whole takes.
    pub stall: Duration,
}

/// A transport to `url`: ours for `http(s)://`, gix's for the other schemes (`file://`).
pub fn connect(url: gix::Url, version: Protocol, timeouts: Timeouts) -> gix::error::Result<Box<dyn Transport + Send>> {
    use gix::protocol::transport::client::blocking_io::connect;
    match url.scheme {
        gix::url::Scheme::Http | gix::url::Scheme::Https => {
            Ok(Box::new(gix_http::Transport::new_http(MirrorHttp::new(timeouts), url, version, false)))
        }
        _ => connect::connect(url, connect::Options { version, ..Default::default() }),
    }
}

/// What the redirect policy of the client needs to know about the request being sent.
#[derive(Default)]
struct RedirectRule {
    follow: bool,
    /// The part of the request's URL after the remote's base URL, which a redirect must keep.
    tail: String,
}

/// The runtime and client of one transfer, made on its first request.
struct Connection {
    runtime: Arc<Runtime>,
    client: Client,
}

/// gix's [`Http`] for mirror transfers.
pub struct MirrorHttp {
    timeouts: Timeouts,
    connection: Option<Connection>,
    rule: Arc<Mutex<RedirectRule>>,
    requests: usize,
    redirected_base: Arc<Mutex<Option<String>>>,
}

impl MirrorHttp {
    pub fn new(timeouts: Timeouts) -> Self {
        MirrorHttp {
            timeouts,
            connection: None,
            rule: Arc::default(),
            requests: 0,
            redirected_base: Arc::default(),
        }
    }

    /// The runtime and the client, made on the first request and reused (the connections with them).
    fn connection(&mut self) -> gix::error::Result<(Arc<Runtime>, Client)> {
        if let Some(c) = &self.connection {
            return Ok((c.runtime.clone(), c.client.clone()));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| gix::error::message!("could not start the transfer's HTTP runtime: {e}").raise())?;
        let rule = self.rule.clone();
        let client = Client::builder()
            .connect_timeout(self.timeouts.connect)
            .read_timeout(self.timeouts.stall)
            .user_agent(USER_AGENT)
            .http1_title_case_headers()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| follow_redirect(&rule, attempt)))
            .build()
            .map_err(classify)?;
        let runtime = Arc::new(runtime);
        self.connection = Some(Connection { runtime: runtime.clone(), client: client.clone() });
        Ok((runtime, client))
    }

    fn request(
        &mut self,
        method: Method,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::error::Result<(Arc<Runtime>, Request)> {
        let tail = url
            .strip_prefix(base_url)
            .ok_or_else(|| gix::error::message!("the request URL does not start with the remote's URL {base_url}").raise())?;
        // git's default (`http.followRedirects=initial`): only a conversation's first request follows.
        let follow = self.requests == 0;
        self.requests += 1;
        let (runtime, client) = self.connection()?;
        let request = Request {
            client,
            method,
            url: url.to_owned(),
            tail: tail.to_owned(),
            headers: header_map(headers),
            follow,
            rule: self.rule.clone(),
            redirected_base: self.redirected_base.clone(),
        };
        Ok((runtime, request))
    }
}

impl Http for MirrorHttp {
    type Headers = Headers;
    type ResponseBody = Body;
    type PostBody = PostBody;

    fn get(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::error::Result<GetResponse<Headers, Body>> {
        let (runtime, request) = self.request(Method::GET, url, base_url, headers)?;
        let answer = runtime.block_on(request.send(None));
        let exchange = Exchange::new(runtime, State::answered(answer));
        Ok(GetResponse { headers: Headers::new(exchange.clone()), body: Body::new(exchange) })
    }

    fn post(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        body: PostBodyDataKind,
    ) -> gix::error::Result<PostResponse<Headers, Body, PostBody>> {
        let (runtime, request) = self.request(Method::POST, url, base_url, headers)?;
        let (post_body, state) = match body {
            PostBodyDataKind::BoundedAndFitsIntoMemory => {
                let buffer = Arc::new(Mutex::new(Vec::new()));
                (PostBody::Buffered(buffer.clone()), State::Unsent { request, body: buffer })
            }
            PostBodyDataKind::Unbounded => {
                let (chunks, received) = mpsc::channel(UPLOAD_CHUNKS_IN_FLIGHT);
                let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(received, |mut received| async move {
                    received.recv().await.map(|chunk: Bytes| (Ok::<_, io::Error>(chunk), received))
                }));
                let sending = runtime.spawn(request.send(Some(body)));
                let writer = ChunkWriter { runtime: runtime.clone(), chunks: Some(chunks), pending: Vec::with_capacity(UPLOAD_CHUNK) };
                (PostBody::Streamed(writer), State::Sending(sending))
            }
        };
        let exchange = Exchange::new(runtime, state);
        Ok(PostResponse { post_body, headers: Headers::new(exchange.clone()), body: Body::new(exchange) })
    }

    /// git's `http.*` settings do not apply: the timeouts, the user agent and the redirect rule are
    /// the transfer's own, the same on every path (hosted repositories set none of them).
    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::error::Result {
        Ok(())
    }

    fn redirected_base_url(&self) -> Option<String> {
        lock(&self.redirected_base).clone()
    }
}

/// One request, ready to send.
struct Request {
    client: Client,
    method: Method,
    url: String,
    tail: String,
    headers: HeaderMap,
    follow: bool,
    rule: Arc<Mutex<RedirectRule>>,
    redirected_base: Arc<Mutex<Option<String>>>,
}

impl Request {
    /// Sends the request and waits for the answer's headers; an error status is an error.
    async fn send(self, body: Option<reqwest::Body>) -> io::Result<Response> {
        {
            let mut rule = lock(&self.rule);
            rule.follow = self.follow;
            rule.tail.clone_from(&self.tail);
        }
        let mut builder = self.client.request(self.method.clone(), &self.url).headers(self.headers.clone());
        if let Some(body) = body {
            builder = builder.body(body);
        }
        let mut www_authenticate = Vec::new();
        let answer = builder.send().await.and_then(|response| {
            if response.status() == StatusCode::UNAUTHORIZED {
                www_authenticate = response
                    .headers()
                    .get_all(reqwest::header::WWW_AUTHENTICATE)
                    .iter()
                    .map(|value| value.as_bytes().into())
                    .collect();
            }
            response.error_for_status()
        });
        match answer {
            Ok(response) => {
                self.note_redirect(response.url());
                if response.status().is_redirection() {
                    return Err(io::Error::other(gix::error::message!(
                        "Received HTTP status {} (a redirect that git's rules do not follow)",
                        response.status().as_str()
                    )));
                }
                Ok(response)
            }
            Err(err) => {
                if let Some(url) = err.url() {
                    self.note_redirect(url);
                }
                Err(status_error(err, www_authenticate))
            }
        }
    }

    /// After a followed redirect, the remote's base URL is where the redirect led, minus the tail.
    fn note_redirect(&self, answered: &reqwest::Url) {
        if answered.as_str() == self.url {
            return;
        }
        if let Some(base) = answered.as_str().strip_suffix(self.tail.as_str()) {
            *lock(&self.redirected_base) = Some(base.to_owned());
        }
    }
}

/// git's redirect rules: only when the request may follow, at most [`MAX_REDIRECTS`], never from
/// https to http, and the new URL must end in the request's tail (so the new base URL is known and
/// later requests go there too).
fn follow_redirect(rule: &Mutex<RedirectRule>, attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let rule = lock(rule);
    if !rule.follow {
        return attempt.stop();
    }
    if attempt.previous().len() >= MAX_REDIRECTS {
        return attempt.error("too many redirects");
    }
    let downgrade = attempt.previous().last().is_some_and(|prev| prev.scheme() == "https" && attempt.url().scheme() != "https");
    if downgrade || !matches!(attempt.url().scheme(), "http" | "https") {
        return attempt.stop();
    }
    if !attempt.url().as_str().ends_with(rule.tail.as_str()) {
        let message = format!("the redirect to {} does not keep the request's path {}", attempt.url(), rule.tail);
        return attempt.error(message);
    }
    attempt.follow()
}

/// The request's header lines as a map; the user agent is the client's.
fn header_map(lines: impl IntoIterator<Item = impl AsRef<str>>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.as_ref().split_once(':') else { continue };
        let (Ok(name), Ok(value)) = (HeaderName::from_str(name.trim()), HeaderValue::from_str(value.trim())) else { continue };
        if name != reqwest::header::USER_AGENT {
            map.append(name, value);
        }
    }
    map
}

/// reqwest's error with the class gix gives it, so retries and reports see the same as with gix's
/// own backend.
fn classify(err: reqwest::Error) -> gix::Error {
    let class = match err.status() {
        Some(StatusCode::FORBIDDEN) => Some(Class::PermissionDenied),
        Some(StatusCode::CONFLICT) => Some(Class::Conflict),
        Some(StatusCode::NOT_IMPLEMENTED) => Some(Class::Unsupported),
        _ if err.is_timeout() || err.is_connect() || err.status().is_some_and(|s| s.is_server_error()) => Some(Class::Retryable),
        _ => None,
    };
    match class {
        Some(class) => gix::Error::from_error(ClassificationMarker::with_source(class, err)),
        None => gix::Error::from_error(err),
    }
}

/// The error a failed request reads as: what gix expects of an [`Http`] (see its documentation).
fn status_error(err: reqwest::Error, www_authenticate: Vec<gix::bstr::BString>) -> io::Error {
    match err.status() {
        Some(StatusCode::UNAUTHORIZED) => io::Error::new(io::ErrorKind::PermissionDenied, AuthenticationRequired { www_authenticate }),
        Some(status) => {
            let kind = if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
                io::ErrorKind::ConnectionAborted
            } else {
                io::ErrorKind::Other
            };
            let context = gix::error::message!("Received HTTP status {}", status.as_str());
            io::Error::new(kind, classify(err).and_raise(context))
        }
        None => transfer_error(err),
    }
}

/// A failure without an HTTP status (connection, TLS, a stall); a stall reads as `TimedOut`.
fn transfer_error(err: reqwest::Error) -> io::Error {
    let kind = if err.is_timeout() { io::ErrorKind::TimedOut } else { io::ErrorKind::Other };
    io::Error::new(kind, classify(err))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// One request and its answer, shared by the answer's headers and body readers.

enum State {
    /// A POST whose body is being written into the buffer; sent when the answer is first read.
    Unsent { request: Request, body: Arc<Mutex<Vec<u8>>> },
    /// A POST being sent while its body is written.
    Sending(tokio::task::JoinHandle<io::Result<Response>>),
    Answered(Response),
    /// The request failed; the error until it was read once.
    Failed(Option<io::Error>),
    /// The body reader took the answer.
    Taken,
}

impl State {
    fn answered(answer: io::Result<Response>) -> Self {
        match answer {
            Ok(response) => State::Answered(response),
            Err(err) => State::Failed(Some(err)),
        }
    }
}

struct Exchange {
    runtime: Arc<Runtime>,
    state: Mutex<State>,
}

impl Exchange {
    fn new(runtime: Arc<Runtime>, state: State) -> Arc<Self> {
        Arc::new(Exchange { runtime, state: Mutex::new(state) })
    }

    /// Sends the request or waits for it to be answered, if that has not happened yet.
    fn await_answer(&self, state: &mut State) {
        match std::mem::replace(state, State::Taken) {
            State::Unsent { request, body } => {
                let body = std::mem::take(&mut *lock(&body));
                *state = State::answered(self.runtime.block_on(request.send(Some(body.into()))));
            }
            State::Sending(sending) => {
                let answer = self.runtime.block_on(sending);
                *state = State::answered(answer.unwrap_or_else(|e| Err(io::Error::other(format!("the request was not sent: {e}")))));
            }
            other => *state = other,
        }
    }

    /// The answer's header lines, `name:value`, or the request's error.
    fn header_lines(&self) -> io::Result<Vec<u8>> {
        let mut state = lock(&self.state);
        self.await_answer(&mut state);
        match &mut *state {
            State::Answered(response) => Ok(render_headers(response.headers())),
            State::Failed(err) => Err(take_error(err)),
            State::Taken | State::Unsent { .. } | State::Sending(_) => Err(io::Error::other("the answer's headers were read after its body")),
        }
    }

    fn take_response(&self) -> io::Result<Response> {
        let mut state = lock(&self.state);
        self.await_answer(&mut state);
        match std::mem::replace(&mut *state, State::Taken) {
            State::Answered(response) => Ok(response),
            State::Failed(mut err) => {
                let err = take_error(&mut err);
                *state = State::Failed(None);
                Err(err)
            }
            State::Taken | State::Unsent { .. } | State::Sending(_) => Err(io::Error::other("the answer's body was read twice")),
        }
    }
}

fn take_error(err: &mut Option<io::Error>) -> io::Error {
    err.take().unwrap_or_else(|| io::Error::other("the request failed"))
}

fn render_headers(headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Read through [`BufRead`]: what `fill_buf` offers, copied out.
fn read_buffered(reader: &mut impl BufRead, out: &mut [u8]) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(out.len());
    out[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

/// The answer's headers, one `name:value` line each; reading them sends a buffered request.
pub struct Headers {
    exchange: Arc<Exchange>,
    lines: Option<io::Cursor<Vec<u8>>>,
}

impl Headers {
    fn new(exchange: Arc<Exchange>) -> Self {
        Headers { exchange, lines: None }
    }
}

impl BufRead for Headers {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.lines.is_none() {
            self.lines = Some(io::Cursor::new(self.exchange.header_lines()?));
        }
        match &mut self.lines {
            Some(lines) => lines.fill_buf(),
            None => Ok(&[]),
        }
    }

    fn consume(&mut self, amount: usize) {
        if let Some(lines) = &mut self.lines {
            lines.consume(amount);
        }
    }
}

impl Read for Headers {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, out)
    }
}

/// The answer's body: each read that finds nothing buffered polls the connection on this thread.
pub struct Body {
    exchange: Arc<Exchange>,
    response: Option<Response>,
    chunk: Bytes,
    ended: bool,
}

impl Body {
    fn new(exchange: Arc<Exchange>) -> Self {
        Body { exchange, response: None, chunk: Bytes::new(), ended: false }
    }
}

impl BufRead for Body {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.chunk.is_empty() && !self.ended {
            if self.response.is_none() {
                self.response = Some(self.exchange.take_response()?);
            }
            let Some(response) = self.response.as_mut() else { break };
            match self.exchange.runtime.block_on(response.chunk()) {
                Ok(Some(chunk)) => self.chunk = chunk,
                Ok(None) => self.ended = true,
                Err(err) => return Err(transfer_error(err)),
            }
        }
        Ok(&self.chunk)
    }

    fn consume(&mut self, amount: usize) {
        self.chunk.advance(amount.min(self.chunk.len()));
    }
}

impl Read for Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies.

/// Where gix writes a POST's body.
pub enum PostBody {
    Buffered(Arc<Mutex<Vec<u8>>>),
    Streamed(ChunkWriter),
}

impl Write for PostBody {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            PostBody::Buffered(buffer) => {
                lock(buffer).extend_from_slice(data);
                Ok(data.len())
            }
            PostBody::Streamed(writer) => writer.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            PostBody::Buffered(_) => Ok(()),
            PostBody::Streamed(writer) => writer.flush(),
        }
    }
}

/// Hands what is written to the request being sent, in pieces of [`UPLOAD_CHUNK`], driving the
/// connection until the remote has room for them; dropping it ends the body.
pub struct ChunkWriter {
    runtime: Arc<Runtime>,
    chunks: Option<mpsc::Sender<Bytes>>,
    pending: Vec<u8>,
}

impl ChunkWriter {
    fn hand_over(&mut self) -> io::Result<()> {
        let Some(chunks) = &self.chunks else { return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the request's body has ended")) };
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.pending, Vec::with_capacity(UPLOAD_CHUNK)));
        // No deadline of its own: a remote that takes none of the body sends nothing either, and
        // the connection's read timeout ends the request, and with it this wait.
        self.runtime
            .block_on(chunks.send(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the remote stopped taking the request's body"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= UPLOAD_CHUNK {
            self.hand_over()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()
    }
}

impl Drop for ChunkWriter {
    fn drop(&mut self) {
        // A failure here is the remote having stopped reading; the answer says why.
        self.hand_over().ok();
        self.chunks = None;
    }
}
