import Foundation

/// A return curve as a standalone SVG: episode return mean against environment steps, one
/// point per iteration, axes labelled with their ranges. What `PPO.writeCurve(to:)` writes.
public enum LearningCurve {
    public static func svg(_ points: [(steps: Int, episodeReturn: Double)], title: String, width: Int = 640, height: Int = 360) -> String {
        let finite = points.filter { $0.episodeReturn.isFinite }
        let margin = 48.0, plotWidth = Double(width) - 2 * margin, plotHeight = Double(height) - 2 * margin
        let maxSteps = Double(max(finite.map(\.steps).max() ?? 1, 1))
        let low = min(finite.map(\.episodeReturn).min() ?? 0, 0), high = max(finite.map(\.episodeReturn).max() ?? 1, low + 1)
        func x(_ steps: Int) -> String { String(format: "%.1f", margin + Double(steps) / maxSteps * plotWidth) }
        func y(_ value: Double) -> String { String(format: "%.1f", margin + (1 - (value - low) / (high - low)) * plotHeight) }
        let path = finite.map { "\(x($0.steps)),\(y($0.episodeReturn))" }.joined(separator: " ")
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(margin))" y="24" font-size="14">\(escape(title))</text>
            <line x1="\(Int(margin))" y1="\(Int(margin))" x2="\(Int(margin))" y2="\(height - Int(margin))" stroke="black"/>
            <line x1="\(Int(margin))" y1="\(height - Int(margin))" x2="\(width - Int(margin))" y2="\(height - Int(margin))" stroke="black"/>
            <text x="4" y="\(Int(margin) + 4)">\(String(format: "%.0f", high))</text>
            <text x="4" y="\(height - Int(margin))">\(String(format: "%.0f", low))</text>
            <text x="\(width - Int(margin) - 60)" y="\(height - 16)">\(Int(maxSteps)) steps</text>
            <polyline fill="none" stroke="#1f77b4" stroke-width="2" points="\(path)"/>
            </svg>
            """
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
