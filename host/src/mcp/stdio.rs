//! `pincer mcp` on stdio: one client, newline-delimited JSON-RPC on stdin and stdout,
//! until the client closes stdin.

use rmcp::ServiceExt as _;
use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;

use std::sync::Arc;

use super::{AfterSend, Server};

/// Serve on stdin/stdout until the client closes stdin.
pub(super) async fn serve(server: Server) -> Result<(), String> {
    let (stdin, stdout) = stdio();
    let after = Arc::new(AfterSend::default());
    let server = server.with_after_send(after.clone());
    let transport = AfterEachSend {
        inner: rmcp::transport::async_rw::AsyncRwTransport::new_server(stdin, stdout),
        after: Some(after),
    };
    let running = server
        .serve(transport)
        .await
        .map_err(|e| format!("the MCP session did not start: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| format!("the MCP session failed: {e}"))?;
    Ok(())
}

/// Watch standard input for up to `budget`, returning as soon as it can be read (or
/// is closed). The stdio server calls this each time its thread runs out of work,
/// before it sleeps in the kernel: a message that arrives meanwhile is then read at
/// once, instead of after the wake-up of a sleeping CPU, which costs tens of
/// microseconds on a virtual machine and leaves its caches cold. It spends at most
/// `budget` of CPU time per wait; zero turns it off.
pub fn await_stdin(budget: std::time::Duration) {
    if budget.is_zero() {
        return;
    }
    let started = std::time::Instant::now();
    while started.elapsed() < budget {
        if stdin_ready() {
            return;
        }
        std::hint::spin_loop();
    }
}

/// Whether a read of stdin would not block: data, end of file or an error.
#[cfg(unix)]
fn stdin_ready() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout; poll only writes `revents`.
    unsafe { libc::poll(&mut fd, 1, 0) != 0 }
}

#[cfg(not(unix))]
fn stdin_ready() -> bool {
    true
}

type Reader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
type Writer = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// Standard input and output for the transport. MCP clients start servers with pipes,
/// which are read and written here through the reactor (non-blocking, like sockets).
/// Tokio's own `stdin`/`stdout` would hand every read and write to a blocking thread:
/// two thread switches per message, which tripled the round trip.
fn stdio() -> (Reader, Writer) {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        use std::os::unix::fs::FileTypeExt as _;
        use tokio::net::unix::pipe;
        // Converting makes the descriptor non-blocking for everyone who shares it: do
        // it only when both are pipes, never leaving one half-converted.
        let is_pipe = |fd: std::os::fd::BorrowedFd<'_>| {
            fd.try_clone_to_owned()
                .map(std::fs::File::from)
                .and_then(|f| f.metadata())
                .is_ok_and(|m| m.file_type().is_fifo())
        };
        if !(is_pipe(std::io::stdin().as_fd()) && is_pipe(std::io::stdout().as_fd())) {
            let (input, output) = rmcp::transport::stdio();
            return (Box::new(input), Box::new(output));
        }
        let input = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .and_then(pipe::Receiver::from_owned_fd);
        let output = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .and_then(pipe::Sender::from_owned_fd);
        if let (Ok(input), Ok(output)) = (input, output) {
            return (Box::new(input), Box::new(output));
        }
    }
    // A terminal or a file: tokio's blocking-thread stdio.
    let (input, output) = rmcp::transport::stdio();
    (Box::new(input), Box::new(output))
}

/// A transport that, after each message it writes, runs the work the server deferred
/// (`after`).
pub(super) struct AfterEachSend<T> {
    pub(super) inner: T,
    pub(super) after: Option<Arc<AfterSend>>,
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for AfterEachSend<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let sent = self.inner.send(item);
        let after = self.after.clone();
        async move {
            let result = sent.await;
            if let Some(after) = after {
                after.run().await;
            }
            result
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        self.inner.receive().await
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
