@_exported import Distributed
