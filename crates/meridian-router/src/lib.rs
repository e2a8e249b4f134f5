//! placeholder: the router is being written
