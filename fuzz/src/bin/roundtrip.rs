fn main() {
    afl::fuzz!(|data: &[u8]| fstool_fuzz::build_roundtrip(data));
}
