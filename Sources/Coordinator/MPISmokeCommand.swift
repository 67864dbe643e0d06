import ArgumentParser
import Foundation
import RegimeCore
import RegimeMPI

/// Exercises the MPI layer on every rank: all-to-all `Codable` messages, an exact reduction to
/// rank 0, and the CPU a rank uses while it waits for a message.
struct MPISmoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-smoke",
        abstract: "Check MPI messaging and reductions across ranks, and measure the CPU cost of waiting.")

    @Option(help: "Seconds rank 1 waits for a late message from rank 0 while its CPU time is measured.")
    var waitSeconds: Double = 2

    struct Greeting: Codable, Equatable {
        var from: Int
        var to: Int
        var host: String
        var payload: [Double]
    }

    struct Report: Codable {
        var ranks: Int
        var hosts: [String]
        var messagesChecked: Int
        var reduced: [Double]
        var reductionExact: Bool
        var waitingRankCPUPercent: Double?
    }

    func run() throws {
        let world = try MPIWorld()
        defer { world.finalize() }
        let (rank, size) = (world.rank, world.size)
        // All to all: each rank sends to every other rank, then receives from each.
        for peer in 0..<size where peer != rank {
            try world.send(Greeting(from: rank, to: peer, host: world.processorName, payload: [Double(rank), Double(peer) / 3]),
                           to: peer, tag: 1)
        }
        var hosts = [rank: world.processorName]
        var checked = 0
        for peer in 0..<size where peer != rank {
            let (message, envelope) = try world.receive(Greeting.self, from: peer, tag: 1)
            guard message == Greeting(from: peer, to: rank, host: message.host, payload: [Double(peer), Double(rank) / 3]),
                  envelope.source == peer else {
                throw ValidationError("rank \(rank): unexpected message \(message) from \(envelope.source)")
            }
            hosts[peer] = message.host
            checked += 1
        }
        // Reduction: rank r contributes [r, r^2, 1, 0.5^r]; every value is a dyadic rational, so
        // the sum is exact in any order and must equal the closed forms.
        let contribution = [Double(rank), Double(rank * rank), 1, pow(0.5, Double(rank))]
        let reduced = try world.reduceSum(contribution)
        // Waiting cost: rank 1 waits for a message rank 0 sends after `waitSeconds`.
        var waitPercent: Double?
        if size > 1 {
            if rank == 0 {
                Thread.sleep(forTimeInterval: waitSeconds)
                try world.sendBytes([1], to: 1, tag: 2)
                let (bytes, _) = try world.receiveBytes(from: 1, tag: 3)
                waitPercent = bytes.withUnsafeBytes { $0.load(as: Double.self) }
            } else if rank == 1 {
                let cpuBefore = processCPUSeconds()
                let wallBefore = Date()
                _ = try world.receiveBytes(from: 0, tag: 2)
                let percent = 100 * (processCPUSeconds() - cpuBefore) / Date().timeIntervalSince(wallBefore)
                try world.sendBytes(withUnsafeBytes(of: percent) { Array($0) }, to: 0, tag: 3)
            }
        }
        try world.barrier()
        guard rank == 0, let reduced else { return }
        let n = Double(size)
        let expected = [n * (n - 1) / 2, (n - 1) * n * (2 * n - 1) / 6, n, 2 - pow(0.5, n - 1)]
        let report = Report(ranks: size, hosts: (0..<size).map { hosts[$0] ?? "?" }, messagesChecked: checked,
                            reduced: reduced, reductionExact: reduced == expected, waitingRankCPUPercent: waitPercent)
        FileHandle.standardOutput.write(try JSONFormat.line(report) + Data("\n".utf8))
        if !report.reductionExact { throw ExitCode(1) }
    }
}

/// User + system CPU seconds of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
