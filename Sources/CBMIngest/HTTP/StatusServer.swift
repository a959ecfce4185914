import CBMCore
import Dispatch
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// The daemon's HTTP server (hummingbird 2, in a service group of its own): `/metrics`,
/// `/healthz`, `/readyz`, the JSON API under `/api/` and the status page at `/`. It runs on its
/// own event loop and reads only what the daemon keeps for it (counts, the status board), so a
/// slow or stuck client never slows ingestion. It starts before recovery (health and readiness
/// answer 503 meanwhile) and stops after the drain.
final class StatusServer: Sendable {
    /// What the server answers from, once the daemon runs.
    struct Endpoints: Sendable {
        var metrics: @Sendable () -> [UInt8]
        /// Nil when healthy, else why not.
        var unhealthy: @Sendable () -> String?
        var view: @Sendable () -> StatusView
        /// Applies an alarm command (`authenticated`: with the token); the HTTP status and text.
        var command: @Sendable (_ action: String, _ body: [UInt8], _ authenticated: Bool) async -> (Int, String)
    }

    private let settings: Mutex<Configuration.HTTPSettings>
    private let endpoints = Mutex<Endpoints?>(nil)
    private let group = Mutex<ServiceGroup?>(nil)
    private let finished = DispatchSemaphore(value: 0)
    private let logger: Logger

    init(_ settings: Configuration.HTTPSettings, logger: Logger) {
        self.settings = Mutex(settings)
        // The server's and the service group's own lines (starting, listening) only when
        // something goes wrong: the daemon says where it listens.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        self.logger = quiet
    }

    /// Why the server could not start.
    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    /// Binds and starts; returns the port bound (the configured one, or the one taken for 0).
    func start() throws(StartError) -> Int {
        let s = settings.withLock { $0 }
        guard let host = s.host else { throw StartError(description: "http.listen is off") }
        let bound = Mutex<Result<Int, StartError>?>(nil)
        let started = DispatchSemaphore(value: 0)
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: s.port), serverName: "cbm-ingest"),
            onServerRunning: { channel in
                bound.withLock { $0 = .success(channel.localAddress?.port ?? s.port) }
                started.signal()
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        self.group.withLock { $0 = group }
        let finished = self.finished
        Task.detached {
            do {
                try await group.run()
            } catch {
                let first = bound.withLock { b -> Bool in
                    guard b == nil else { return false }
                    b = .failure(StartError(description: "cannot listen on \(host):\(s.port): \(error)"))
                    return true
                }
                if first { started.signal() }
            }
            finished.signal()
        }
        if started.wait(timeout: .now() + 20) == .timedOut {
            throw StartError(description: "cannot listen on \(host):\(s.port): the server did not start within 20 s")
        }
        let result = bound.withLock { $0! }
        return try result.get()
    }

    /// Stops it: open connections are closed once their requests are answered.
    func stop() {
        guard let group = group.withLock({ g -> ServiceGroup? in defer { g = nil }; return g }) else { return }
        Task { await group.triggerGracefulShutdown() }
        _ = finished.wait(timeout: .now() + 10)
    }

    /// The daemon runs: requests are answered from these.
    func serve(_ e: Endpoints) { endpoints.withLock { $0 = e } }

    /// New settings (a reload): the token and refresh take effect at once. Returns whether the
    /// address changed (then the caller stops this server and starts another).
    func reconfigure(_ s: Configuration.HTTPSettings) -> Bool {
        settings.withLock { old in
            let changed = old.host != s.host || old.port != s.port
            old = s
            return changed
        }
    }

    // MARK: routes

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/metrics") { [self] _, _ -> Response in
            guard let e = endpoints.withLock({ $0 }) else { return Self.text(.serviceUnavailable, "recovering\n") }
            return Self.bytes(.ok, e.metrics(), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/healthz") { [self] _, _ -> Response in
            guard let e = endpoints.withLock({ $0 }) else { return Self.json(.serviceUnavailable, ["status": "starting", "reason": "recovery has not finished"]) }
            if let why = e.unhealthy() { return Self.json(.serviceUnavailable, ["status": "unhealthy", "reason": why]) }
            return Self.json(.ok, ["status": "ok"])
        }
        router.get("/readyz") { [self] _, _ -> Response in
            endpoints.withLock({ $0 }) == nil
                ? Self.json(.serviceUnavailable, ["status": "recovering"]) : Self.json(.ok, ["status": "ready"])
        }
        router.get("/api/status") { [self] _, _ -> Response in
            guard let e = endpoints.withLock({ $0 }) else { return Self.json(.serviceUnavailable, ["status": "recovering"]) }
            return Self.bytes(.ok, Self.encode(e.view()), type: "application/json; charset=utf-8")
        }
        router.post("/api/alarms/:action") { [self] request, context -> Response in
            let action = context.parameters.get("action") ?? ""
            guard ["ack", "shelve", "unshelve"].contains(action) else {
                return Self.json(.notFound, ["error": "unknown action \(action): use ack, shelve or unshelve"])
            }
            let token = settings.withLock { $0.token }
            var authenticated = false
            if let token {
                let given = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
                guard let given, Self.same(given, token) else {
                    return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer", .contentType: "application/json"],
                                    body: .init(byteBuffer: ByteBuffer(string: #"{"error":"a bearer token is needed for this action"}"#)))
                }
                authenticated = true
            }
            guard let e = endpoints.withLock({ $0 }) else { return Self.json(.serviceUnavailable, ["status": "recovering"]) }
            let body = try await request.body.collect(upTo: 16_384)
            let (status, text) = await e.command(action, Array(buffer: body), authenticated)
            return Self.json(HTTPResponse.Status(code: status), status == 200 ? ["status": "ok"] : ["error": text])
        }
        // Browsers ask for it: no icon, and no error in their console.
        router.get("/favicon.ico") { _, _ -> Response in Response(status: .noContent) }
        router.get("/") { [self] request, _ -> Response in
            guard let e = endpoints.withLock({ $0 }) else {
                return Self.text(.serviceUnavailable, "cbm-ingest is recovering; this page comes back when it runs.\n")
            }
            let language = StatusPage.language(query: request.uri.queryParameters.get("lang"),
                                               acceptLanguage: request.headers[.acceptLanguage])
            let html = StatusPage.render(e.view(), language: language, refreshSeconds: settings.withLock { $0.refreshSeconds })
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        return router
    }

    /// Compares two tokens in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<min(x.count, y.count) { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    static func encode(_ v: some Encodable) -> [UInt8] {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return (try? Array(e.encode(v))) ?? Array("{}".utf8)
    }

    private static func bytes(_ status: HTTPResponse.Status, _ b: [UInt8], type: String) -> Response {
        Response(status: status, headers: [.contentType: type, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(bytes: b)))
    }

    private static func text(_ status: HTTPResponse.Status, _ t: String) -> Response {
        bytes(status, Array(t.utf8), type: "text/plain; charset=utf-8")
    }

    private static func json(_ status: HTTPResponse.Status, _ fields: [String: String]) -> Response {
        bytes(status, encode(fields), type: "application/json; charset=utf-8")
    }
}

/// The daemon's HTTP server across reloads: a new listen address starts a new server (a port
/// taken then is logged, and the old one keeps serving); anything else changes in place.
final class HTTPState: Sendable {
    private let server = Mutex<StatusServer?>(nil)
    private let endpoints = Mutex<StatusServer.Endpoints?>(nil)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func start(_ s: Configuration.HTTPSettings) throws(StatusServer.StartError) {
        guard let host = s.host else { return }
        let next = StatusServer(s, logger: logger)
        let port = try next.start()
        if let e = endpoints.withLock({ $0 }) { next.serve(e) }
        server.withLock { $0 = next }
        logger.info("HTTP server listening: the status page, /metrics, /healthz", metadata: [
            "http.address": "\(host.contains(":") ? "[\(host)]" : host):\(port)",
            "http.token": "\(s.tokenSource.map { "from \($0)" } ?? "none (write actions from loopback only)")",
        ])
    }

    func serve(_ e: StatusServer.Endpoints) {
        endpoints.withLock { $0 = e }
        server.withLock { $0 }?.serve(e)
    }

    func reconfigure(_ s: Configuration.HTTPSettings) {
        let current = server.withLock { $0 }
        guard let current else {
            do throws(StatusServer.StartError) { try start(s) } catch { logger.error("cannot start the HTTP server", metadata: ["error": "\(error)"]) }
            return
        }
        guard current.reconfigure(s) else { return }
        current.stop()
        server.withLock { $0 = nil }
        do throws(StatusServer.StartError) {
            try start(s)
        } catch {
            logger.error("cannot move the HTTP server to its new address: it is stopped until the next reload or restart",
                         metadata: ["error": "\(error)"])
        }
    }

    func stop() {
        server.withLock { s -> StatusServer? in defer { s = nil }; return s }?.stop()
    }
}
