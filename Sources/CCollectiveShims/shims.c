// The shims are inline functions in the header.
