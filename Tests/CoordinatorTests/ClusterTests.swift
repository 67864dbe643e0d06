import Foundation
import XCTest

/// A real multi-host cluster on one machine: test hosts are network namespaces joined by a bridge
/// (scripts/cluster/up), OpenMPI starts its daemons in them through scripts/cluster/agent and its
/// traffic stays on the test subnet. Needs root; without it every test here is reported as
/// skipped, loudly, never as passed.
final class ClusterTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    static let scripts = TestSupport.packageRoot.appendingPathComponent("scripts/cluster")
    static let state = "/tmp/regime-cluster-tests"
    /// OpenMPI's out-of-band keepalive: a daemon silent for 5 s is probed every 2 s and declared
    /// lost after 3 missed probes, so a partitioned host ends the job in about 11 s instead of
    /// OpenMPI's default 8 minutes (300 + 9 x 20 s).
    static let keepalive = ["--mca", "oob_tcp_keepalive_time", "5", "--mca", "oob_tcp_keepalive_intvl", "2",
                            "--mca", "oob_tcp_keepalive_probes", "3"]
    static let partitionDeadline = 60.0

    override func setUpWithError() throws {
        guard getuid() == 0 else {
            FileHandle.standardError.write(Data("ClusterTests SKIPPED: network namespaces need root\n".utf8))
            throw XCTSkip("SKIPPED, NOT PASSED: the namespace cluster tests need root")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip") else {
            throw XCTSkip("SKIPPED, NOT PASSED: iproute2's `ip` is not installed")
        }
        let up = try TestSupport.run(Self.scripts.appendingPathComponent("up").path, ["3"], timeout: 60,
                                     environment: ["REGIME_CLUSTER_STATE": Self.state])
        XCTAssertEqual(up.status, 0, up.stderr)
    }

    override func tearDown() {
        _ = try? TestSupport.run(Self.scripts.appendingPathComponent("down").path, [], timeout: 60,
                                 environment: ["REGIME_CLUSTER_STATE": Self.state])
    }

    /// Writes a hostfile naming `hosts` (one slot each) and returns its path.
    func hostfile(_ hosts: [String]) throws -> String {
        let url = TestSupport.temporaryDirectory("hostfile-\(hosts.joined(separator: "-"))")
        try (hosts.map { "\($0) slots=1" }.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// mpirun over the namespace hosts, one rank each.
    func clusterArguments(hosts: [String], _ regimeArguments: [String]) throws -> [String] {
        ["--hostfile", try hostfile(hosts), "-np", "\(hosts.count)",
         "--mca", "plm_rsh_agent", Self.scripts.appendingPathComponent("agent").path,
         "--mca", "oob_tcp_if_include", "10.231.7.0/24", "--mca", "btl_tcp_if_include", "10.231.7.0/24",
         "--mca", "btl", "tcp,self"] + Self.keepalive + [TestSupport.regimeBinary.path] + regimeArguments
    }

    func manifest(_ directory: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("manifest.json"))) as! [String: Any]
    }

    func testOneHostTwoRanksEqualsThreeHostsOneRankEach() throws {
        let sweep = TestSupport.fixtures.appendingPathComponent("failures.yaml").path
        let local = TestSupport.temporaryDirectory("cluster-local")
        let localRun = try TestSupport.mpirunRegime(ranks: 2, ["sweep", sweep, "--out", local.path])
        XCTAssertEqual(localRun.status, 0, localRun.stderr)
        let cluster = TestSupport.temporaryDirectory("cluster-3hosts")
        let run = try TestSupport.run(TestSupport.mpirun, try clusterArguments(hosts: ["rgmh1", "rgmh2", "rgmh3"],
                                                                                ["sweep", sweep, "--out", cluster.path]))
        XCTAssertEqual(run.status, 0, run.stderr)
        try FailureIntegrationTests.assertSameResults(local, cluster)
        let hosts = try manifest(cluster)["hosts"] as? [String]
        XCTAssertEqual(hosts, ["rgmh1", "rgmh2", "rgmh3"])
        for (name, directory) in [("1 host x 2 ranks", local), ("3 hosts x 1 rank", cluster)] {
            let statistics = try manifest(directory)["statistics"] as! [String: Any]
            print("\(name): wall \(statistics["wall_seconds"]!) s, scheduling efficiency \(statistics["scheduling_efficiency"]!)")
        }
    }

    func testNodeLossThenResumeOnTheRemainingHosts() throws {
        try interruptThenResume(name: "node-loss") {
            let pids = try TestSupport.run("/usr/sbin/ip", ["netns", "pids", "rgmh2"], timeout: 10).stdout
                .split(separator: "\n").compactMap { Int32($0) }
            XCTAssertFalse(pids.isEmpty, "no processes on rgmh2 to kill")
            for pid in pids { kill(pid, SIGKILL) }
        }
    }

    func testNetworkPartitionEndsTheJobThenResumeFinishes() throws {
        try interruptThenResume(name: "partition") {
            let down = try TestSupport.run("/usr/sbin/ip", ["link", "set", "rgmv2", "down"], timeout: 10)
            XCTAssertEqual(down.status, 0, down.stderr)
        }
    }

    /// Starts the failures sweep on three hosts, calls `interrupt` once a trial is journaled and
    /// another has a checkpoint, requires mpirun to end within `partitionDeadline`, then resumes
    /// on rgmh1 and rgmh3 and compares with an uninterrupted run.
    func interruptThenResume(name: String, interrupt: () throws -> Void) throws {
        let sweep = TestSupport.fixtures.appendingPathComponent("failures.yaml").path
        let reference = TestSupport.temporaryDirectory("\(name)-reference")
        let referenceRun = try TestSupport.mpirunRegime(ranks: 2, ["sweep", sweep, "--out", reference.path])
        XCTAssertEqual(referenceRun.status, 0, referenceRun.stderr)

        let out = TestSupport.temporaryDirectory(name)
        let process = try TestSupport.startMPIRun(try clusterArguments(hosts: ["rgmh1", "rgmh2", "rgmh3"],
                                                                       ["sweep", sweep, "--out", out.path]))
        let interrupted = TestSupport.waitUntilMidTrial(out, process: process, timeout: 180)
        if interrupted { try interrupt() }
        XCTAssertTrue(interrupted, "the sweep finished before it could be interrupted")
        let interruptedAt = Date()
        while process.isRunning && Date().timeIntervalSince(interruptedAt) < Self.partitionDeadline { usleep(100_000) }
        let ended = !process.isRunning
        let seconds = Date().timeIntervalSince(interruptedAt)
        if !ended { process.terminate(); kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        XCTAssertTrue(ended, "mpirun still running \(Self.partitionDeadline) s after the \(name)")
        print("\(name): mpirun ended \(String(format: "%.1f", seconds)) s after the interruption, status \(process.terminationStatus)")
        // Whatever still runs on the lost host is stopped (as a dead node would be), then resume without it.
        _ = try TestSupport.run("/bin/sh", ["-c", "pids=$(ip netns pids rgmh2); [ -z \"$pids\" ] || kill -9 $pids"], timeout: 10)
        let resumed = try TestSupport.run(TestSupport.mpirun, try clusterArguments(hosts: ["rgmh1", "rgmh3"], ["sweep", "--resume", out.path]))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        try FailureIntegrationTests.assertSameResults(reference, out)
        XCTAssertEqual(try manifest(out)["hosts"] as? [String], ["rgmh1", "rgmh3"])
    }
}
