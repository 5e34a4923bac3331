// A local reverse proxy that adds `Authorization: Bearer <token>` to every request.
//
// The conformance suite's server mode takes only a URL; it cannot send a bearer token
// (modelcontextprotocol/conformance#453). `pincer mcp --http` requires one, so run.sh
// points the suite at this proxy, which forwards each request to the server unchanged
// but for that header, and streams each response back (SSE included).
//
// The Host and Origin headers are forwarded as the suite sent them, so that the
// dns-rebinding-protection scenario still reaches the server with a foreign Host;
// only when they name the proxy itself are they rewritten to name the server, as
// they would if the suite had connected to it directly.
//
// Environment: PINCER_CONFORMANCE_TARGET, the server's URL; PINCER_CONFORMANCE_TOKEN,
// the token (never printed). Listens on 127.0.0.1 at a free port, prints
// `listening URL` on stdout (the server's URL with the proxy's address), and runs until
// it is killed.

import http from "node:http";
import https from "node:https";

const token = process.env.PINCER_CONFORMANCE_TOKEN ?? "";
if (!URL.canParse(process.env.PINCER_CONFORMANCE_TARGET ?? "") || !token) {
  console.error("auth-proxy: set PINCER_CONFORMANCE_TARGET (a URL) and PINCER_CONFORMANCE_TOKEN");
  process.exit(2);
}
const target = new URL(process.env.PINCER_CONFORMANCE_TARGET);
const upstream = target.protocol === "https:" ? https : http;

// Headers that describe one connection, not the request.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "upgrade"];

const server = http.createServer((req, res) => {
  const self = `127.0.0.1:${server.address().port}`;
  const headers = { ...req.headers };
  for (const name of HOP_BY_HOP) delete headers[name];
  if (headers.host === self) headers.host = target.host;
  if (headers.origin === `http://${self}`) headers.origin = target.origin;
  headers.authorization = `Bearer ${token}`;

  const forward = upstream.request(
    {
      protocol: target.protocol,
      hostname: target.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: target.port,
      method: req.method,
      path: req.url,
      headers,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.on("error", () => res.destroy());
      answer.pipe(res);
    },
  );
  forward.on("error", (e) => {
    console.error(`cannot reach ${target.origin}: ${e.message}`);
    if (!res.headersSent) {
      res.writeHead(502, { "content-type": "text/plain" });
    }
    res.end(`auth-proxy: cannot reach ${target.origin}: ${e.message}\n`);
  });
  // The suite cancels SSE streams it has read enough of; stop the upstream one too.
  res.on("close", () => forward.destroy());
  req.on("error", () => forward.destroy());
  req.pipe(forward);
});

server.listen(0, "127.0.0.1", () => {
  const url = new URL(target);
  url.protocol = "http:";
  url.host = `127.0.0.1:${server.address().port}`;
  console.log(`listening ${url}`);
});
