import Foundation
import RegimeCore

extension SweepFile {
    /// The text of a sweep named `name` whose trials are `trial` with each of `seeds`: the trial's
    /// settings as JSON (a YAML flow mapping; the spec's keys are the sweep file's keys) with the
    /// seed moved into `grid`. For programs that run one trial's settings as a sweep (the memory
    /// benchmark); `parse` of the text gives back `trial` with each seed.
    public static func text(name: String, trial: TrialSpec, seeds: [UInt64]) throws -> String {
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(trial)) as? [String: Any] else {
            throw SweepError(file: name, line: nil, "a trial spec did not encode as a mapping")
        }
        object["seed"] = nil
        object["name"] = name
        object["grid"] = ["seed": seeds.map { NSNumber(value: $0) }]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
