//! Shared helpers of mp's integration tests.
