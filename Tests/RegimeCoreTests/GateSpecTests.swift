import Foundation
import XCTest
@testable import RegimeCore

/// The `gates` trial setting: ids of trials without it are unchanged, only what differs from the
/// defaults enters the canonical JSON, validation names the key.
final class GateSpecTests: XCTestCase {
    /// The canonical JSON and id of `TrainerTests.syntheticSpec()` on main before `gates` existed.
    func testTrialWithoutGatesKeepsItsID() {
        let spec = TrainerTests.syntheticSpec()
        XCTAssertEqual(spec.canonicalJSON, #"{"arch":"mlp:32-64-64-10","batch_size":32,"dataset":{"name":"synthetic","probe_seed":7,"probe_subset":128,"val_subset":512},"decay":{"area_fraction":0.9,"peak_skip":0,"peak_window":50,"smoothing":25,"thresholds":[0.05,0.1,0.2]},"eval_every":20,"iterations":60,"optimizer":{"lr":0.05,"momentum":0.9,"name":"sgd","nesterov":false,"weight_decay":0},"record_every":1,"schedule":{"lr_min":0,"name":"constant","warmup":0},"seed":1}"#)
        XCTAssertEqual(spec.trialID, "35b88911d2ae8a16")
        // "never" with the default detector is no setting at all.
        XCTAssertNil(GateSpec.setting(freezeAt: .never))
        var never = spec
        never.gates = GateSpec.setting(freezeAt: .never)
        XCTAssertEqual(never.trialID, spec.trialID)
    }

    func testOnlyNonDefaultsAreEncoded() throws {
        func json(_ gates: GateSpec?) -> String {
            var spec = TrainerTests.syntheticSpec()
            spec.gates = gates
            let object = try! JSONSerialization.jsonObject(with: Data(spec.canonicalJSON.utf8)) as! [String: Any]
            guard let value = object["gates"] else { return "absent" }
            return String(decoding: try! JSONSerialization.data(withJSONObject: value, options: .sortedKeys), as: UTF8.self)
        }
        XCTAssertEqual(json(nil), "absent")
        XCTAssertEqual(json(GateSpec(freezeAt: .step(100))), #"{"freeze_at":100}"#)
        XCTAssertEqual(json(GateSpec(freezeAt: .auto)), #"{"freeze_at":"auto"}"#)
        XCTAssertEqual(json(GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(window: 10, patience: 5))),
                       #"{"freeze_at":"auto","patience":5,"window":10}"#)
        XCTAssertEqual(json(GateSpec.setting(freezeAt: .never, detector: RegimeDetectorOptions(drop: 0.1))),
                       #"{"drop":0.1,"freeze_at":"never"}"#)
        let ids = [nil, GateSpec(freezeAt: .step(0)), GateSpec(freezeAt: .step(100)), GateSpec(freezeAt: .auto)].map { gates -> String in
            var spec = TrainerTests.syntheticSpec()
            spec.gates = gates
            return spec.trialID
        }
        XCTAssertEqual(Set(ids).count, ids.count, "every freeze point is its own trial")

        // Round trip through the spec's JSON, defaults restored.
        for gates in [GateSpec(freezeAt: .step(7)), GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(window: 10, drop: 0.3, flattening: 0.4, patience: 3))] {
            var spec = TrainerTests.syntheticSpec()
            spec.gates = gates
            let decoded = try JSONDecoder().decode(TrialSpec.self, from: Data(spec.canonicalJSON.utf8))
            XCTAssertEqual(decoded, spec)
        }
    }

    func testValidationNamesTheKey() {
        func error(_ gates: GateSpec) -> String? {
            var spec = TrainerTests.syntheticSpec(iterations: 60)
            spec.gates = gates
            do { try spec.validate(); return nil } catch { return "\(error)" }
        }
        XCTAssertNil(error(GateSpec(freezeAt: .step(0))))
        XCTAssertNil(error(GateSpec(freezeAt: .step(59))))
        XCTAssertTrue(error(GateSpec(freezeAt: .step(-1)))?.hasPrefix("gates.freeze_at: expected 'auto', 'never' or an integer from 0 to 59") == true)
        XCTAssertTrue(error(GateSpec(freezeAt: .step(60)))?.contains("got 60") == true)
        XCTAssertTrue(error(GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(window: 0)))?.hasPrefix("gates.window:") == true)
        XCTAssertTrue(error(GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(drop: 1)))?.hasPrefix("gates.drop:") == true)
        XCTAssertTrue(error(GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(flattening: 0)))?.hasPrefix("gates.flattening:") == true)
        XCTAssertTrue(error(GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(patience: 0)))?.hasPrefix("gates.patience:") == true)
        XCTAssertEqual(GateSpec.FreezeAt(text: "auto"), .auto)
        XCTAssertEqual(GateSpec.FreezeAt(text: "12"), .step(12))
        XCTAssertNil(GateSpec.FreezeAt(text: "soon"))
    }
}
