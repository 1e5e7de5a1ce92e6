fn main() {
    afl::fuzz!(|data: &[u8]| fstool_fuzz::qcow2(data));
}
