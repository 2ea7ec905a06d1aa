//! Examples of mp.
