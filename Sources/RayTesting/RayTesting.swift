import SwiftRay
