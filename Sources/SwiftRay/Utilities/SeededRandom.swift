import RayWire

/// A small seeded random number generator (SplitMix64): the same seed gives the same numbers on
/// every machine and in every process (defined in RayWire, which every module shares).
public typealias SeededRandom = RayWire.SeededRandom
