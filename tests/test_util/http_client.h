// A minimal HTTP/1.1 client for tests of bnserve's HTTP port, plaintext or
// over TLS with OpenSSL directly, so that the server's HTTP library is not
// also the client that judges it. One request per connection
// (Connection: close), or several on one connection (HttpConnection).
// Every socket operation has a timeout, so a hung server fails the test
// instead of hanging it. Header-only, POSIX.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "openssl/err.h"
#include "openssl/ssl.h"
#include "openssl/x509v3.h"

namespace bnserve::testing {

struct HttpClientTls {
  std::string ca;           // PEM file the server's certificate must chain to
  std::string server_name = "localhost";  // checked against the certificate
  std::string cert;         // client certificate and key (mutual TLS); optional
  std::string key;
};

struct HttpAnswer {
  // Empty when an HTTP answer was read; else why none was (connect, TLS
  // handshake, or a connection closed without an answer).
  std::string error;
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// One connection to 127.0.0.1:port; requests are sent one after the other.
class HttpConnection {
 public:
  HttpConnection(int port, const HttpClientTls* tls) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{30, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      error_ = "connect to port " + std::to_string(port) + " failed";
      return;
    }
    if (tls != nullptr) StartTls(*tls);
  }
  ~HttpConnection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (context_ != nullptr) SSL_CTX_free(context_);
    if (fd_ >= 0) close(fd_);
  }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Empty once connected (and, with TLS, the handshake verified).
  const std::string& error() const { return error_; }

  // Sends one request and reads its answer (by Content-Length, or to the
  // end of the connection).
  HttpAnswer Call(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::map<std::string, std::string>& headers = {}, bool close_after = false) {
    HttpAnswer answer;
    if (!error_.empty()) {
      answer.error = error_;
      return answer;
    }
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    if (headers.count("Transfer-Encoding") == 0) request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (close_after) request += "Connection: close\r\n";
    request += "\r\n" + body;
    if (!WriteAll(request)) {
      answer.error = "could not send the request";
      return answer;
    }
    // Head, then the body by Content-Length.
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome()) {
        answer.error = buffer_.empty() ? "connection closed without an answer" : "incomplete answer: " + buffer_;
        return answer;
      }
    }
    const std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    if (head.compare(0, 9, "HTTP/1.1 ") != 0 && head.compare(0, 9, "HTTP/1.0 ") != 0) {
      answer.error = "not an HTTP answer: " + head.substr(0, 64);
      return answer;
    }
    answer.status = std::atoi(head.c_str() + 9);
    for (size_t line = head.find("\r\n"); line != std::string::npos;) {
      const size_t next = head.find("\r\n", line + 2);
      const std::string field = head.substr(line + 2, next == std::string::npos ? std::string::npos : next - line - 2);
      const size_t colon = field.find(':');
      if (colon != std::string::npos) {
        std::string name = field.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        answer.headers[name] = field.substr(field.find_first_not_of(' ', colon + 1));
      }
      line = next;
    }
    if (auto length = answer.headers.find("content-length"); length != answer.headers.end()) {
      const size_t size = std::strtoull(length->second.c_str(), nullptr, 10);
      while (buffer_.size() < size) {
        if (!ReadSome()) {
          answer.error = "answer body cut short";
          return answer;
        }
      }
      answer.body = buffer_.substr(0, size);
      buffer_.erase(0, size);
    } else {
      while (ReadSome()) {
      }
      answer.body = std::move(buffer_);
      buffer_.clear();
    }
    return answer;
  }

 private:
  void StartTls(const HttpClientTls& tls) {
    context_ = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_load_verify_locations(context_, tls.ca.c_str(), nullptr) != 1) {
      error_ = "cannot load CA " + tls.ca;
      return;
    }
    SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);
    if (!tls.cert.empty() && (SSL_CTX_use_certificate_chain_file(context_, tls.cert.c_str()) != 1 ||
                              SSL_CTX_use_PrivateKey_file(context_, tls.key.c_str(), SSL_FILETYPE_PEM) != 1)) {
      error_ = "cannot load the client certificate " + tls.cert;
      return;
    }
    ssl_ = SSL_new(context_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, tls.server_name.c_str());
    SSL_set1_host(ssl_, tls.server_name.c_str());
    if (SSL_connect(ssl_) != 1) {
      char reason[256];
      ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
      ERR_clear_error();
      error_ = std::string("TLS handshake failed: ") + reason;
      return;
    }
    // TLS 1.3: a server that refuses the client's certificate says so
    // after the client's handshake has ended; the first read shows it.
  }

  bool WriteAll(const std::string& data) {
    for (size_t sent = 0; sent < data.size();) {
      const size_t left = data.size() - sent;
      const int n = ssl_ != nullptr ? SSL_write(ssl_, data.data() + sent, static_cast<int>(left))
                                    : static_cast<int>(send(fd_, data.data() + sent, left, MSG_NOSIGNAL));
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  bool ReadSome() {
    char chunk[16384];
    const int n = ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof(chunk))
                                  : static_cast<int>(recv(fd_, chunk, sizeof(chunk), 0));
    if (n <= 0) {
      ERR_clear_error();
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  SSL_CTX* context_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string error_;
  std::string buffer_;  // read, not yet consumed
};

// One request on a fresh connection to 127.0.0.1:port (TLS when `tls`).
inline HttpAnswer HttpCall(int port, const HttpClientTls* tls, const std::string& method, const std::string& path,
                           const std::string& body = "", const std::map<std::string, std::string>& headers = {}) {
  HttpConnection connection(port, tls);
  return connection.Call(method, path, body, headers, /*close_after=*/true);
}

}  // namespace bnserve::testing
