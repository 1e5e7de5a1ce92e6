fn main() {
    afl::fuzz!(|data: &[u8]| fstool_fuzz::erofs(data));
}
