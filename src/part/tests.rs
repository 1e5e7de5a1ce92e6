//! Plan and table round-trip tests (validators run in `tests/it/disk.rs`).

use super::*;
use crate::io::MemDevice;
use crate::plan::ids;

const MIB: u64 = 1 << 20;

fn gpt() -> DiskRequest {
    DiskRequest::new(PartitionTable::Gpt, "seed")
}
fn mbr() -> DiskRequest {
    DiskRequest::new(PartitionTable::Mbr, "seed")
}
fn part(t: &str, size: PartSize) -> PartitionRequest {
    PartitionRequest::new(t, size)
}

#[test]
fn gpt_auto_size_aligns_and_holds_backup() {
    let p = plan(
        &gpt(),
        &[
            part("esp", PartSize::Bytes(32 * MIB)),
            part("linux", PartSize::Bytes(10 * MIB + 1)),
        ],
    )
    .unwrap();
    let ps = p.partitions();
    assert_eq!(ps[0].offset_bytes(), MIB);
    assert_eq!(ps[0].size_bytes(), 32 * MIB);
    assert_eq!(ps[1].offset_bytes(), 33 * MIB);
    assert_eq!(ps[1].size_bytes(), 10 * MIB + 512);
    // 43 MiB + 1 sector + 33 backup sectors, rounded up to 44 MiB.
    assert_eq!(p.size, 44 * MIB);
    assert_eq!(p.first_usable_lba, 34);
    assert_eq!(p.last_usable_lba, p.total_sectors() - 34);
    // Partition GUIDs mix in the type and name; the disk GUID every
    // partition's.
    assert_eq!(ps[0].uuid, Some(ids::uuid("seed", "gpt-partition|esp|", 0)));
    assert_eq!(
        ps[1].uuid,
        Some(ids::uuid("seed", "gpt-partition|linux|", 1))
    );
    assert_eq!(
        p.disk_guid,
        Some(ids::uuid(
            "seed",
            "gpt-disk|gpt-partition|esp||gpt-partition|linux|",
            0
        ))
    );
}

#[test]
fn remaining_fills_to_aligned_end() {
    let mut r = gpt();
    r.size = Some(100 * MIB);
    let p = plan(
        &r,
        &[
            part("esp", PartSize::Bytes(10 * MIB)),
            part("linux-root", PartSize::Remaining),
        ],
    )
    .unwrap();
    let last = &p.partitions()[1];
    assert_eq!(last.offset_bytes(), 11 * MIB);
    assert_eq!(last.offset_bytes() + last.size_bytes(), 99 * MIB);

    let e = plan(
        &r,
        &[
            part("linux", PartSize::Remaining),
            part("linux", PartSize::Bytes(MIB)),
        ],
    )
    .unwrap_err();
    assert!(matches!(e, PartError::RemainingNotLast { index: 1 }), "{e}");
    let e = plan(&gpt(), &[part("linux", PartSize::Remaining)]).unwrap_err();
    assert!(matches!(e, PartError::RemainingNeedsDiskSize { .. }), "{e}");
}

#[test]
fn too_small_disk_names_needed_size() {
    let mut r = gpt();
    r.size = Some(10 * MIB);
    let e = plan(&r, &[part("linux", PartSize::Bytes(20 * MIB))]).unwrap_err();
    match &e {
        PartError::DiskTooSmall { needed, .. } => assert_eq!(*needed, 22 * MIB),
        _ => panic!("{e}"),
    }
    assert!(e.to_string().contains("23068672"), "{e}");
}

#[test]
fn mbr_rules() {
    let five: Vec<_> = (0..5)
        .map(|_| part("linux", PartSize::Bytes(MIB)))
        .collect();
    let e = plan(&mbr(), &five).unwrap_err();
    assert!(matches!(e, PartError::TooManyPrimary { count: 5 }), "{e}");
    let mut named = part("linux", PartSize::Bytes(MIB));
    named.name = Some("x".into());
    assert!(matches!(
        plan(&mbr(), &[named]).unwrap_err(),
        PartError::GptOnly { .. }
    ));
    let mut boot = part("linux", PartSize::Bytes(MIB));
    boot.bootable = true;
    assert!(matches!(
        plan(&gpt(), std::slice::from_ref(&boot)).unwrap_err(),
        PartError::BootableOnGpt { .. }
    ));
    let p = plan(&mbr(), &[boot]).unwrap();
    assert_eq!(p.size, 2 * MIB);
    assert_eq!(
        p.disk_signature,
        Some(ids::u32_id("seed", "mbr-signature|gpt-partition|linux|", 0))
    );
    let mut big = mbr();
    big.size = Some(3 << 40);
    let e = plan(&big, &[part("linux", PartSize::Remaining)]).unwrap_err();
    assert!(matches!(e, PartError::BeyondMbrLimit { .. }), "{e}");
}

#[test]
fn name_length_in_utf16_units() {
    let mut p = part("linux", PartSize::Bytes(MIB));
    p.name = Some("é".repeat(36));
    plan(&gpt(), std::slice::from_ref(&p)).unwrap();
    // 18 characters outside the BMP = 36 units: fits; one more does not.
    p.name = Some("𝄞".repeat(18));
    plan(&gpt(), std::slice::from_ref(&p)).unwrap();
    p.name = Some("a".repeat(37));
    let e = plan(&gpt(), &[p]).unwrap_err();
    assert!(matches!(e, PartError::NameTooLong { units: 37, .. }), "{e}");
}

#[test]
fn bad_geometry_is_rejected() {
    let mut r = gpt();
    r.alignment = 1000;
    assert!(matches!(
        plan(&r, &[]).unwrap_err(),
        PartError::BadAlignment { .. }
    ));
    let mut r = mbr();
    r.sector_size = 4096;
    assert!(matches!(
        plan(&r, &[]).unwrap_err(),
        PartError::BadSectorSize { .. }
    ));
    let mut r = gpt();
    r.gpt_entries = 4;
    assert!(matches!(
        plan(&r, &[]).unwrap_err(),
        PartError::BadEntryCount { .. }
    ));
    let mut r = gpt();
    r.size = Some(MIB + 1);
    assert!(matches!(
        plan(&r, &[]).unwrap_err(),
        PartError::UnalignedDiskSize { .. }
    ));
}

#[test]
fn gpt_roundtrips_through_probe() {
    for ss in [512u32, 4096] {
        let mut r = gpt();
        r.sector_size = ss;
        let mut a = part("linux-root", PartSize::Bytes(3 * MIB));
        a.name = Some("root ü".into());
        a.attributes = 1 << 59 | 1;
        let b = part("swap", PartSize::Bytes(MIB));
        let p = plan(&r, &[a, b]).unwrap();
        let mut dev = MemDevice::new(p.size as usize);
        write_tables(&p, &mut dev).unwrap();
        let info = probe(&dev).unwrap().unwrap();
        assert_eq!(info.sector_size, ss);
        assert_eq!(info.disk_guid, p.disk_guid);
        assert!(info.warnings.is_empty(), "{:?}", info.warnings);
        assert_eq!(info.partitions.len(), 2);
        for (got, want) in info.partitions.iter().zip(p.partitions()) {
            assert_eq!(got.start_lba, want.start_lba);
            assert_eq!(got.sectors, want.sectors);
            assert_eq!(got.part_type, want.part_type);
            assert_eq!(got.uuid, want.uuid);
            assert_eq!(got.name, want.name);
            assert_eq!(got.attributes, want.attributes);
        }
        assert_eq!(
            info.partitions[0].type_name.as_deref(),
            Some("linux-root (x86-64)")
        );

        // A damaged primary array: the backup answers, with a warning.
        dev.data[2 * ss as usize + 40] ^= 0xff;
        let backup = probe(&dev).unwrap().unwrap();
        assert_eq!(backup.partitions, info.partitions);
        assert_eq!(backup.warnings.len(), 1, "{:?}", backup.warnings);
        // Both damaged: an error, never a panic.
        let backup_array = (p.last_usable_lba + 1) as usize * ss as usize;
        dev.data[backup_array + 40] ^= 0xff;
        assert!(matches!(probe(&dev), Err(PartError::Corrupt { .. })));
    }
}

#[test]
fn mbr_roundtrips_through_probe() {
    let mut r = mbr();
    r.bootcode = Some(vec![0xfa; 500]);
    r.disk_signature = Some(0x1234_5678);
    let mut a = part("esp", PartSize::Bytes(MIB));
    a.bootable = true;
    let p = plan(&r, &[a, part("0x83", PartSize::Bytes(2 * MIB))]).unwrap();
    let mut dev = MemDevice::new(p.size as usize);
    write_tables(&p, &mut dev).unwrap();
    assert_eq!(&dev.data[..440], &[0xfa; 440][..]);
    assert_eq!(&dev.data[440..446], &[0x78, 0x56, 0x34, 0x12, 0, 0]);
    let info = probe(&dev).unwrap().unwrap();
    assert_eq!(info.disk_signature, Some(0x1234_5678));
    assert_eq!(info.partitions.len(), 2);
    assert!(info.partitions[0].bootable);
    assert_eq!(info.partitions[0].part_type, PartType::Mbr(0xef));
    assert_eq!(info.partitions[1].offset_bytes, 2 * MIB);
    assert_eq!(info.partitions[1].size_bytes, 2 * MIB);
}

#[test]
fn probe_survives_garbage() {
    let mut x = 0x1234_5678_9abc_def1u64;
    for round in 0..200 {
        let mut dev = MemDevice::new(64 * 1024);
        for b in dev.data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        dev.data[510] = 0x55;
        dev.data[511] = 0xaa;
        if round % 2 == 0 {
            dev.data[446 + 4] = 0xee;
            dev.data[512..520].copy_from_slice(b"EFI PART");
        }
        let _ = probe(&dev);
    }
    assert!(probe(&MemDevice::new(100)).unwrap().is_none());
    assert!(probe(&MemDevice::new(4096)).unwrap().is_none());
}

#[test]
fn blob_larger_than_partition_is_refused() {
    let p = plan(&gpt(), &[part("linux", PartSize::Bytes(4096))]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    std::fs::write(&path, vec![1u8; 4097]).unwrap();
    let mut dev = MemDevice::new(p.size as usize);
    let e = write_blob(&mut dev, &p.partitions()[0], &path).unwrap_err();
    assert!(
        matches!(
            e,
            PartError::BlobTooLarge {
                blob: 4097,
                partition: 4096,
                ..
            }
        ),
        "{e}"
    );
    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    write_blob(&mut dev, &p.partitions()[0], &path).unwrap();
    assert_eq!(dev.data[MIB as usize..MIB as usize + 4096], [7u8; 4096]);
}
