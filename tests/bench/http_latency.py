#!/usr/bin/python3
"""Sequential latency of the HTTP port's Open Inference Protocol infer, one request in flight.

Starts one bnserve per variant over a copy of a model repository, each with --metrics-listen on loopback
(and, for a variant marked ",tls", --tls-cert/--tls-key from a throwaway CA made with the openssl command),
then measures alternately, variant after variant, REPS rounds of REQUESTS sequential POST
/v2/models/MODEL/infer calls of batch 1 over one keep-alive connection (http.client reconnects when the
server says it closes it; the connections opened are reported). A variant marked ",close" is a server
that closes every connection after one answer without saying so: the client then sends
"Connection: close" and connects for each request. Prints per variant the median (min-max) over the rounds
of the p50 and p99 latency in microseconds.

    tests/bench/http_latency.py --variant http=build/server/bnserve --variant https=build/server/bnserve,tls \\
        [--variant before=/path/to/older/bnserve,close] [--requests 2000] [--reps 3] [--model mlp] \\
        [--repository deploy/examples/repository]

Loopback only; stops the servers it started.
"""
import argparse
import http.client
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_certs(directory):
    """ca.pem, and server.pem/server.key for localhost and 127.0.0.1 signed by it."""
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=directory, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=bench CA", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "2", "-days",
            "1", "-out", "server.pem", "-extfile", "server.ext")


class Server:
    """One bnserve; its HTTP port read from its JSON log."""

    def __init__(self, binary, repository, tls_dir, log_path):
        args = [binary, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--model-repository",
                repository, "--log-format", "json", "--drain-seconds", "0", "--worker-threads", "2"]
        if tls_dir:
            args += ["--tls-cert", os.path.join(tls_dir, "server.pem"), "--tls-key",
                     os.path.join(tls_dir, "server.key")]
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.http_port = None
        for line in self.process.stdout:
            self.log.write(line)
            message = json.loads(line)["msg"]
            if "event=http_started" in message:
                self.http_port = int(message.split(" port=")[1].split()[0])
            if "event=server_started" in message:
                break
        if self.http_port is None:
            raise RuntimeError("%s did not start; see %s" % (binary, log_path))
        self.drain = threading.Thread(target=lambda: shutil.copyfileobj(self.process.stdout, self.log), daemon=True)
        self.drain.start()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


class Client:
    """Sequential infer calls over one (re-opened when closed) connection."""

    def __init__(self, port, tls_dir, model, close):
        if tls_dir:
            context = ssl.create_default_context(cafile=os.path.join(tls_dir, "ca.pem"))
            self.connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
        else:
            self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.connections = 0
        connect = self.connection.connect

        def counting_connect():
            self.connections += 1
            connect()
        self.connection.connect = counting_connect
        self.headers = {"Content-Type": "application/json"}
        if close:
            self.headers["Connection"] = "close"
        self.path = "/v2/models/%s/infer" % model
        metadata = self.call("GET", "/v2/models/%s" % model)
        features = metadata["inputs"][0]["shape"][1:]
        count = 1
        for dim in features:
            count *= dim
        self.body = json.dumps({"inputs": [{"name": metadata["inputs"][0]["name"], "datatype": "FP32",
                                            "shape": [1] + features,
                                            "data": [((i * 7) % 13) / 6.5 - 1.0 for i in range(count)]}]}).encode()

    def call(self, method, path, body=None):
        self.connection.request(method, path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        if "Connection" in self.headers:
            self.connection.close()  # http.client would keep it: the server does not say it closes
        if response.status != 200:
            raise RuntimeError("%s %s: %d %s" % (method, path, response.status, data[:200]))
        return json.loads(data)

    def run(self, requests):
        """Latencies in microseconds of `requests` sequential infer calls, from a fresh connection (the
        server closes idle ones while the other variants run)."""
        self.connection.close()
        latencies = []
        for _ in range(requests):
            start = time.perf_counter_ns()
            self.call("POST", self.path, self.body)
            latencies.append((time.perf_counter_ns() - start) / 1000.0)
        return latencies


def percentile(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME=BNSERVE_BINARY[,tls][,close]")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--repository", default=os.path.join(ROOT, "deploy", "examples", "repository"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="bnserve_http_latency_")
    servers = []
    try:
        tls_dir = os.path.join(work, "tls")
        os.makedirs(tls_dir)
        make_certs(tls_dir)
        variants = []
        for spec in args.variant:
            name, rest = spec.split("=", 1)
            binary, *flags = rest.split(",")
            repository = os.path.join(work, name, "repository")
            shutil.copytree(args.repository, repository)
            server_tls = tls_dir if "tls" in flags else None
            server = Server(binary, repository, server_tls, os.path.join(work, name + ".log"))
            servers.append(server)
            client = Client(server.http_port, server_tls, args.model, "close" in flags)
            client.run(args.warmup)
            client.connections = 0
            variants.append((name, client, {"p50": [], "p99": [], "connections": []}))
        for _ in range(args.reps):
            for name, client, results in variants:
                before = client.connections
                latencies = sorted(client.run(args.requests))
                results["p50"].append(percentile(latencies, 0.50))
                results["p99"].append(percentile(latencies, 0.99))
                results["connections"].append(client.connections - before)
        print("%d rounds of %d sequential %s infer calls (batch 1) per variant, alternating; latency in us" %
              (args.reps, args.requests, args.model))
        print("%-14s %-28s %-28s %s" % ("variant", "p50 median (min-max)", "p99 median (min-max)",
                                        "connections per round"))
        for name, _, results in variants:
            cells = ["%.1f (%.1f-%.1f)" % (statistics.median(v), min(v), max(v))
                     for v in (results["p50"], results["p99"])]
            print("%-14s %-28s %-28s %s" % (name, cells[0], cells[1],
                                             "/".join(str(c) for c in results["connections"])))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
