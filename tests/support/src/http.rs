//! A small HTTP/1.1 server on 127.0.0.1 for the tests and benchmarks of the `http`
//! capability: it starts on a free port, answers a few fixed routes, keeps connections
//! alive, and stops when dropped. Every wait it does is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// The running server.
pub struct TestServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Start a server on a free port of 127.0.0.1.
    ///
    /// Routes: `/bytes/N` (N bytes of `x`), `/chunked/N` (the same, chunked, no length),
    /// `/slow/MS` (answers after MS milliseconds, at most 60000), `/redirect?to=URL`
    /// (302 to URL), `/see-other?to=URL` (303), `/temporary?to=URL` (307), `/hops/N` (N redirects, then `/bytes/2`), `/headers` (the request's
    /// headers as the body), `/article.html` (a small HTML page with a script).
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop2, requests2, connections2) =
            (stop.clone(), requests.clone(), connections.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    connections2.fetch_add(1, Ordering::SeqCst);
                    let requests = requests2.clone();
                    std::thread::spawn(move || serve(conn, port, &requests));
                }
            }
        });
        TestServer {
            port,
            stop,
            requests,
            connections,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many requests it has answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, port: u16, requests: &AtomicUsize) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(conn.try_clone().expect("cloning a socket"));
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_owned();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                headers.push(h.clone());
            }
        }
        let mut body = vec![0; length.min(1 << 24)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let response = respond(&target, &headers, port);
        if out.write_all(&response).is_err() {
            return;
        }
    }
}

fn respond(target: &str, headers: &[String], port: u16) -> Vec<u8> {
    let ok = |body: Vec<u8>| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend(body);
        r
    };
    let redirect_with = |status: &str, to: &str| {
        format!("HTTP/1.1 {status}\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n").into_bytes()
    };
    let redirect = |to: &str| redirect_with("302 Found", to);
    let path = target.split('?').next().unwrap_or(target);
    let number = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    if let Some(n) = number("/bytes/") {
        return ok(vec![b'x'; n]);
    }
    if let Some(n) = number("/chunked/") {
        let mut r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for chunk in vec![b'x'; n].chunks(1024) {
            r.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
            r.extend(chunk);
            r.extend(b"\r\n");
        }
        r.extend(b"0\r\n\r\n");
        return r;
    }
    if let Some(ms) = number("/slow/") {
        std::thread::sleep(Duration::from_millis(ms.min(60_000) as u64));
        return ok(b"slow".to_vec());
    }
    if let Some(to) = target.strip_prefix("/redirect?to=") {
        return redirect(to);
    }
    if let Some(to) = target.strip_prefix("/see-other?to=") {
        return redirect_with("303 See Other", to);
    }
    if let Some(to) = target.strip_prefix("/temporary?to=") {
        return redirect_with("307 Temporary Redirect", to);
    }
    if let Some(n) = number("/hops/") {
        return if n == 0 {
            ok(b"xx".to_vec())
        } else {
            redirect(&format!("http://127.0.0.1:{port}/hops/{}", n - 1))
        };
    }
    if target == "/headers" {
        return ok(headers.join("\n").into_bytes());
    }
    if target == "/article.html" {
        let body = ARTICLE.as_bytes();
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend(body);
        return r;
    }
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
}

/// The page at `/article.html`.
pub const ARTICLE: &str = "<!doctype html><html><head><title>Pincer notes</title>\
<script>document.write('tracking')</script><style>p{color:red}</style></head>\
<body><h1>Capability security</h1><p>A plugin gets <strong>only</strong> what an admin \
approved.</p><ul><li>filesystem</li><li>http</li></ul>\
<p>See <a href=\"https://example.org/more\">more</a>.</p></body></html>";
