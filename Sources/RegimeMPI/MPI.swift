import CMPI
import Foundation
import RegimeCore

/// An error returned by an MPI call or by decoding a message.
public struct MPIError: Error, CustomStringConvertible {
    public var description: String
    init(_ function: String, code: Int32) {
        var length: Int32 = 0
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        MPI_Error_string(code, &text, &length)
        description = "\(function) failed: \(String(cString: text)) (code \(code))"
    }
    init(message: String) { description = message }
}

@inline(__always)
func check(_ code: Int32, _ function: String) throws {
    if code != MPI_SUCCESS { throw MPIError(function, code: code) }
}

/// How a rank waits for MPI without burning a core.
///
/// OpenMPI's blocking calls (`MPI_Recv`, `MPI_Reduce`, `MPI_Barrier`) busy-poll their progress
/// engine, so a rank waiting for work would take a full core from a training rank on the same node.
/// Every wait here is instead a non-blocking test followed by a sleep that grows geometrically
/// from `minimumSleep` to `maximumSleep`: the first microseconds stay responsive, a long wait costs
/// well under 1% of a core (measured by `WaitCostTests` and `regime mpi-smoke`).
public struct PollingPolicy: Sendable {
    public var minimumSleep: Double = 50e-6
    public var maximumSleep: Double = 5e-3
    public static let `default` = PollingPolicy()

    /// Runs `test` until it returns a value, sleeping between attempts.
    public func wait<T>(_ test: () throws -> T?) rethrows -> T {
        var sleep = minimumSleep
        while true {
            if let value = try test() { return value }
            var request = timespec(tv_sec: 0, tv_nsec: Int(sleep * 1e9))
            nanosleep(&request, nil)
            sleep = min(sleep * 2, maximumSleep)
        }
    }
}

/// The MPI world: initialisation, identity and point-to-point/collective operations.
///
/// One instance per process. Messages are byte buffers, or `Codable` values sent as JSON.
/// All waits go through `PollingPolicy` (see there for why).
public final class MPIWorld: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public let processorName: String
    public var polling = PollingPolicy.default
    private let comm: MPI_Comm
    private var finalized = false

    /// Calls `MPI_Init` (thread level FUNNELED: only the main thread makes MPI calls).
    public init() throws {
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided), "MPI_Init_thread")
        comm = cmpi_comm_world()
        var r: Int32 = 0, s: Int32 = 0
        try check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
        var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        try check(MPI_Get_processor_name(&name, &length), "MPI_Get_processor_name")
        processorName = String(cString: name)
    }

    /// True when this process was started by `mpirun` (OpenMPI sets these variables).
    public static var launchedByMPIRun: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }

    /// Ends every rank of the job (`MPI_Abort`); does not return.
    public func abort(code: Int32) -> Never {
        MPI_Abort(comm, code)
        exit(code)
    }

    // MARK: Point to point

    /// Sends `bytes` to `destination` with `tag`; returns when the buffer may be reused.
    public func sendBytes(_ bytes: [UInt8], to destination: Int, tag: Int) throws {
        var request = MPI_Request(bitPattern: 0)
        try bytes.withUnsafeBufferPointer { buffer in
            try check(MPI_Isend(buffer.baseAddress, Int32(buffer.count), cmpi_byte(), Int32(destination),
                                Int32(tag), comm, &request), "MPI_Isend")
            try waitFor(&request)
        }
    }

    /// A message that has arrived but has not been received yet.
    public struct Envelope: Sendable, Equatable {
        public var source: Int
        public var tag: Int
        public var byteCount: Int
    }

    /// Non-blocking probe: the envelope of a waiting message from `source` (any when nil) with
    /// `tag` (any when nil), or nil when none has arrived.
    public func probe(from source: Int? = nil, tag: Int? = nil) throws -> Envelope? {
        var flag: Int32 = 0
        var status = MPI_Status()
        try check(MPI_Iprobe(Int32(source ?? Int(cmpi_any_source())), Int32(tag ?? Int(cmpi_any_tag())), comm,
                             &flag, &status), "MPI_Iprobe")
        guard flag != 0 else { return nil }
        var count: Int32 = 0
        try check(MPI_Get_count(&status, cmpi_byte(), &count), "MPI_Get_count")
        return Envelope(source: Int(cmpi_status_source(&status)), tag: Int(cmpi_status_tag(&status)),
                        byteCount: Int(count))
    }

    /// Receives the next message matching `source`/`tag`, waiting without spinning.
    public func receiveBytes(from source: Int? = nil, tag: Int? = nil) throws -> (bytes: [UInt8], envelope: Envelope) {
        let envelope = try polling.wait { try probe(from: source, tag: tag) }
        var bytes = [UInt8](repeating: 0, count: envelope.byteCount)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            try check(MPI_Recv(buffer.baseAddress, Int32(envelope.byteCount), cmpi_byte(), Int32(envelope.source),
                               Int32(envelope.tag), comm, cmpi_status_ignore()), "MPI_Recv")
        }
        return (bytes, envelope)
    }

    /// Sends a `Codable` value as JSON.
    public func send<Message: Encodable>(_ message: Message, to destination: Int, tag: Int) throws {
        try sendBytes(Array(try JSONCoding.encoder().encode(message)), to: destination, tag: tag)
    }

    /// Receives a `Codable` value sent with `send(_:to:tag:)`. (The byte forms have their own names:
    /// `[UInt8]` is itself `Codable`, and one overload set would silently JSON-encode byte buffers.)
    public func receive<Message: Decodable>(_ type: Message.Type, from source: Int? = nil, tag: Int? = nil)
        throws -> (message: Message, envelope: Envelope)
    {
        let (bytes, envelope) = try receiveBytes(from: source, tag: tag)
        do {
            return (try JSONCoding.decoder().decode(Message.self, from: Data(bytes)), envelope)
        } catch {
            throw MPIError(message: "message from rank \(envelope.source) tag \(envelope.tag) is not a valid \(Message.self): \(error)")
        }
    }

    // MARK: Collectives

    /// Element-wise sum of `values` over all ranks, delivered to `root` (nil elsewhere).
    /// Every rank must pass the same count.
    public func reduceSum(_ values: [Double], root: Int = 0) throws -> [Double]? {
        var result = [Double](repeating: 0, count: values.count)
        try reduce(values, into: &result, datatype: cmpi_double(), root: root)
        return rank == root ? result : nil
    }

    /// Element-wise sum of integers, delivered to `root`. Integer sums are exact and associative, so
    /// the result does not depend on the reduction tree (unlike a floating-point sum).
    public func reduceSum(_ values: [Int64], root: Int = 0) throws -> [Int64]? {
        var result = [Int64](repeating: 0, count: values.count)
        try reduce(values, into: &result, datatype: cmpi_int64(), root: root)
        return rank == root ? result : nil
    }

    private func reduce<T>(_ values: [T], into result: inout [T], datatype: MPI_Datatype, root: Int) throws {
        var request = MPI_Request(bitPattern: 0)
        try values.withUnsafeBufferPointer { input in
            try result.withUnsafeMutableBufferPointer { output in
                try check(MPI_Ireduce(input.baseAddress, output.baseAddress, Int32(input.count), datatype,
                                      cmpi_op_sum(), Int32(root), comm, &request), "MPI_Ireduce")
                try waitFor(&request)
            }
        }
    }

    /// Broadcasts bytes from `root` to every rank.
    public func broadcast(_ bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
        var count = Int64(bytes.count)
        var request = MPI_Request(bitPattern: 0)
        try check(MPI_Ibcast(&count, 1, cmpi_int64(), Int32(root), comm, &request), "MPI_Ibcast")
        try waitFor(&request)
        var buffer = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count))
        try buffer.withUnsafeMutableBufferPointer { pointer in
            try check(MPI_Ibcast(pointer.baseAddress, Int32(count), cmpi_byte(), Int32(root), comm, &request),
                      "MPI_Ibcast")
            try waitFor(&request)
        }
        return buffer
    }

    /// Waits until every rank has called `barrier()`, without spinning.
    public func barrier() throws {
        var request = MPI_Request(bitPattern: 0)
        try check(MPI_Ibarrier(comm, &request), "MPI_Ibarrier")
        try waitFor(&request)
    }

    private func waitFor(_ request: inout MPI_Request?) throws {
        _ = try polling.wait { () throws -> Bool? in
            var flag: Int32 = 0
            try check(MPI_Test(&request, &flag, cmpi_status_ignore()), "MPI_Test")
            return flag != 0 ? true : nil
        }
    }
}
