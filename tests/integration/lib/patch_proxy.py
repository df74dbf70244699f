"""A loopback HTTP proxy to kmsim that rewrites replies like a hostile
server: PROXY_PATCH=total sets TotalCount to 10^9 in every paged list reply.
Counts the requests per action in COUNTS_FILE (JSON) after each one.
usage: patch_proxy.py LISTEN_PORT_FILE KMSIM_PORT CA_FILE COUNTS_FILE"""
import http.client, http.server, json, os, ssl, sys, threading, urllib.parse

port_file, kmsim_port, ca, counts_file = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
counts, lock = {}, threading.Lock()


def action_of(path, body):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    q.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
    return (q.get("Action") or ["?"])[0]


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        act = self.headers.get("x-acs-action") or action_of(self.path, body)
        with lock:
            counts[act] = counts.get(act, 0) + 1
            tmp = counts_file + ".tmp"
            json.dump(counts, open(tmp, "w"))
            os.replace(tmp, counts_file)
        c = http.client.HTTPSConnection("127.0.0.1", int(kmsim_port), context=ctx)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        try:
            j = json.loads(data)
            if isinstance(j, dict) and "TotalCount" in j:
                j["TotalCount"] = 10**9
                data = json.dumps(j).encode()
        except ValueError:
            pass
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = handle_one


s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(port_file, "w").write(str(s.server_address[1]))
s.serve_forever()
