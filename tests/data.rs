//! Data layer: every format and preset on tiny fixtures, interning and stable
//! sort order, the binary cache, bad input, and the sample world.

use lumlab::data::sample::{WorldConfig, generate};
use lumlab::data::{Action, DataError, Format, LoadOptions, Scenario, load};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

/// (user name, item name, action) of every row in dataset order.
fn rows(d: &lumlab::data::Dataset) -> Vec<(String, String, Action)> {
    let mut out = Vec::new();
    for u in 0..d.n_users() as u32 {
        for r in d.user_range(u) {
            out.push((d.users.name(u).to_string(), d.items.name(d.item[r]).to_string(), d.action_at(r)));
        }
    }
    out
}

#[test]
fn native_csv_any_column_order_with_extras_and_items_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "log.csv", "item_id,extra,user_id,timestamp,action,query,scenario,position,label\n\
        i2,x,alice,100,click,red shoes,search,,\n\
        i1,x,bob,50,impression,red shoes,search,3,1\n\
        i1,x,alice,90,cart,,feed,,\n");
    write(dir.path(), "items.csv", "item_id,title,category,brand,price\ni1,Red shoe,shoes,Nova,12.5\ni3,Blue hat,hats,,\n");
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!(rep.format, Format::Native);
    assert_eq!((d.n_users(), d.n_behaviors()), (2, 3));
    assert_eq!(d.n_items(), 3, "items only in the table join the catalogue");
    assert!(rep.notes.iter().any(|n| n.contains("ignored columns: extra")), "{:?}", rep.notes);
    // alice's rows sorted by time: cart@90 then click@100.
    let r = rows(&d);
    assert_eq!(r[0], ("alice".into(), "i1".into(), Action::Cart));
    assert_eq!(r[1], ("alice".into(), "i2".into(), Action::Click));
    let bob = d.users.get("bob").unwrap();
    let br = d.user_range(bob).start;
    assert_eq!((d.position_at(br), d.label_at(br), d.scenario_at(br)), (3, Some(1), Scenario::Search));
    assert_eq!(d.queries.name(d.query_at(br)), "red shoes");
    let i1 = d.items.get("i1").unwrap();
    assert_eq!(d.item_table.title(i1), "Red shoe");
    assert_eq!(d.item_table.category_name(i1), Some("shoes"));
    assert_eq!(d.item_table.price[i1 as usize], 12.5);
    assert!(!d.item_table.described[d.items.get("i2").unwrap() as usize]);
}

#[test]
fn stable_sort_keeps_file_order_for_equal_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("user_id,timestamp,item_id\n");
    // Many ties at the end of the sequence, interleaved with another user.
    for k in 0..50 {
        text.push_str(&format!("u,{},a{k}\nv,5,b{k}\n", if k < 10 { k } else { 1000 }));
    }
    let p = write(dir.path(), "ties.csv", &text);
    let (d, _) = load(&p, &opts()).unwrap();
    let u = d.users.get("u").unwrap();
    let names: Vec<&str> = d.user_range(u).map(|r| d.items.name(d.item[r])).collect();
    let expected: Vec<String> = (0..50).map(|k| format!("a{k}")).collect();
    assert_eq!(names, expected);
    let v = d.users.get("v").unwrap();
    assert_eq!(d.items.name(d.item[d.user_range(v).end - 1]), "b49");
}

#[test]
fn tsv_and_jsonl_and_iso_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "log.tsv", "user_id\ttimestamp\titem_id\nu1\t2017-11-25T12:00:01Z\tx\nu1\t2017-11-25 12:00:00\ty\n");
    let (d, _) = load(&p, &opts()).unwrap();
    assert_eq!(rows(&d).iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["y", "x"]);
    let p = write(dir.path(), "log.jsonl", "{\"user_id\": 7, \"timestamp\": 1511544070123, \"item_id\": \"a\", \"action\": \"buy\"}\n{\"user_id\": \"7\", \"timestamp\": 1511544070000, \"item_id\": \"b\"}\n");
    let (d, _) = load(&p, &opts()).unwrap();
    assert_eq!(d.n_users(), 1, "numeric and string ids intern alike");
    assert_eq!(rows(&d)[1], ("7".into(), "a".into(), Action::Buy), "milliseconds order within a second");
}

#[test]
fn taobao_preset() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "UserBehavior.csv", "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,buy,1511561733\n2,2268318,2520377,cart,1511544000\n1,42,7,fav,1511544070\n");
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!(rep.format, Format::Taobao);
    assert_eq!((d.n_users(), d.n_items(), d.n_behaviors()), (2, 3, 4));
    assert_eq!(rows(&d)[0], ("1".into(), "2268318".into(), Action::Click));
    assert_eq!(rows(&d)[1].2, Action::Fav, "tie at 1511544070 keeps file order");
    let it = d.items.get("2268318").unwrap();
    assert_eq!(d.item_table.category_name(it), Some("2520377"));
    assert!(d.column_bytes() as f64 / d.n_behaviors() as f64 <= 16.0 + 12.0 / 4.0);
}

#[test]
fn movielens_dat_and_csv_with_movies() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ratings.dat", "1::1193::5::978300760\n1::661::3.5::978302109\n2::1193::4::978298413\n");
    std::fs::write(dir.path().join("movies.dat"), b"1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Caf\xe9 (1996)::Animation|Children's\n").unwrap();
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!(rep.format, Format::MovieLens);
    assert_eq!(d.n_behaviors(), 3);
    assert_eq!(d.rating[1], 3.5);
    let m = d.items.get("661").unwrap();
    assert_eq!(d.item_table.title(m), "Café (1996)", "Latin-1 titles decoded");
    assert_eq!(d.item_table.category_name(m), Some("Animation"));
    let dir2 = tempfile::tempdir().unwrap();
    let p = write(dir2.path(), "ratings.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n");
    write(dir2.path(), "movies.csv", "movieId,title,genres\n31,\"Dangerous Minds, The (1995)\",Drama\n");
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!(rep.format, Format::MovieLens);
    assert_eq!(d.item_table.title(d.items.get("31").unwrap()), "Dangerous Minds, The (1995)");
}

#[test]
fn sasrec_preset_line_order_is_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ml-1m.txt", "1 5\n2 7\n1 3\n1 5\n");
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!(rep.format, Format::Sasrec);
    assert_eq!(rows(&d).iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["5", "3", "5", "7"]);
}

#[test]
fn alimama_preset_with_real_quirks() {
    let dir = tempfile::tempdir().unwrap();
    // Trailing space in a header name, empty fields, NULL and non-numeric brands.
    let p = write(dir.path(), "raw_sample.csv", "user,time_stamp,adgroup_id,pid,nonclk,clk \n581738,1494137644,1,430548_1007,1,0\n449818,1494638778,3,430548_1007,0,1\n");
    write(dir.path(), "ad_feature.csv", "adgroup_id,cate_id,campaign_id,customer,brand,price\n1,6406,83237,1,95471,170.0\n3,1489,,2,NULL,\n4,1489,1,2,abc,12\n");
    write(dir.path(), "user_profile.csv", "userid,cms_segid,new_user_class_level \n581738,0,\n");
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!(rep.format, Format::Alimama);
    assert_eq!(d.n_behaviors(), 3, "2 impressions + 1 click behaviour");
    let r = rows(&d);
    assert!(r.contains(&("449818".into(), "3".into(), Action::Click)));
    let ad3 = d.items.get("3").unwrap();
    assert_eq!(d.item_table.brand_name(ad3), None);
    assert!(d.item_table.price[ad3 as usize].is_nan());
    assert_eq!(d.item_table.brand_name(d.items.get("4").unwrap()), Some("abc"));
    assert!(rep.notes.iter().any(|n| n.contains("user_profile.csv")));
}

#[test]
fn cache_hit_invalidation_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "log.csv", "user_id,timestamp,item_id\na,1,x\na,2,y\nb,3,x\n");
    let o = LoadOptions::cached();
    let (d1, r1) = load(&p, &o).unwrap();
    assert!(!r1.from_cache);
    let (d2, r2) = load(&p, &o).unwrap();
    assert!(r2.from_cache);
    assert_eq!(d1, d2);
    let cache = dir.path().join("log.csv.lumcache");
    assert!(cache.is_file());
    // Corrupt one byte in the payload: detected by the checksum and rebuilt.
    let mut bytes = std::fs::read(&cache).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&cache, &bytes).unwrap();
    let (d3, r3) = load(&p, &o).unwrap();
    assert!(!r3.from_cache);
    assert_eq!(d3, d1);
    // Truncated cache: rebuilt.
    std::fs::write(&cache, &bytes[..n / 2]).unwrap();
    assert!(!load(&p, &o).unwrap().1.from_cache);
    // Source changes (size): rebuilt with the new content.
    std::fs::write(&p, "user_id,timestamp,item_id\na,1,x\na,2,y\nb,3,x\nc,4,z\n").unwrap();
    let (d4, r4) = load(&p, &o).unwrap();
    assert!(!r4.from_cache);
    assert_eq!(d4.n_users(), 3);
    // No temp files left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

fn err(dir: &Path, name: &str, bytes: &[u8], strict: bool) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    match load(&p, &LoadOptions { strict, ..opts() }) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_input_messages_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(err(d, "empty.csv", b"", false).contains("empty.csv: file is empty"));
    assert!(err(d, "blank.csv", b"\n\n  \n", false).contains("is empty"));
    assert!(err(d, "weird.csv", b"a,b,c\n1,2,3\n", false).contains("unknown format"));
    let m = err(d, "nocol.csv", b"user_id,timestamp,foo\n1,2,3\n", true);
    assert!(m.contains("nocol.csv") && m.contains("item_id"), "{m}");
    let m = err(d, "fields.csv", b"user_id,timestamp,item_id\na,1,x\nb,2\n", true);
    assert!(m.contains("fields.csv:3: expected 3 fields, found 2"), "{m}");
    let m = err(d, "ts.csv", b"user_id,timestamp,item_id\na,1,x\nb,yesterday,x\n", true);
    assert!(m.contains("ts.csv:3: timestamp `yesterday`"), "{m}");
    let m = err(d, "utf.csv", b"user_id,timestamp,item_id\na,1,x\nb,2,\xff\xfe\n", true);
    assert!(m.contains("utf.csv:3") && m.contains("UTF-8"), "{m}");
    let m = err(d, "allbad.csv", b"user_id,timestamp,item_id\na,zz,x\n", false);
    assert!(m.contains("no valid behaviours") && m.contains("allbad.csv:2"), "{m}");
    let e = load(d, &opts()).unwrap_err();
    assert!(matches!(e, DataError::IsDirectory { .. }), "{e}");
    let e = load(&d.join("missing.csv"), &opts()).unwrap_err();
    assert!(e.to_string().contains("missing.csv"), "{e}");
    let m = err(d, "tb.csv", b"1,2,3,pv,100\n1,2,3,jump,101\n", true);
    assert!(m.contains("tb.csv:2: unknown behavior `jump`"), "{m}");
}

#[test]
fn default_policy_skips_and_counts_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("user_id,timestamp,item_id,label\n");
    for k in 0..8 {
        text.push_str(&format!("u,{k},i,2\nu,{k},i,1\n"));
    }
    text.push_str("solo,1,i,0\n");
    let p = write(dir.path(), "some.csv", &text);
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!((rep.rows_skipped, d.n_behaviors()), (8, 9));
    assert_eq!(rep.first_errors.len(), 5);
    assert!(rep.first_errors[0].starts_with(&format!("{}:2: label `2`", p.display())), "{:?}", rep.first_errors);
    assert_eq!(rep.single_behavior_users, 1);
    // A failed strict load writes no cache.
    let o = LoadOptions { strict: true, use_cache: true, ..opts() };
    assert!(load(&p, &o).is_err());
    assert!(!dir.path().join("some.csv.lumcache").exists());
}

#[test]
fn sample_world_is_deterministic_and_has_planted_structure() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let cfg = WorldConfig::small(150, 7);
    let s1 = generate(&cfg, a.path(), None).unwrap();
    generate(&cfg, b.path(), None).unwrap();
    for f in ["behaviors.csv", "items.csv", "truth.csv", "world.json"] {
        assert_eq!(std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap(), "{f} differs");
    }
    let c = tempfile::tempdir().unwrap();
    generate(&WorldConfig::small(150, 8), c.path(), None).unwrap();
    assert_ne!(std::fs::read(a.path().join("behaviors.csv")).unwrap(), std::fs::read(c.path().join("behaviors.csv")).unwrap());
    assert!(s1.oracle_auc > 0.6 && s1.oracle_auc < 0.95, "oracle AUC {}", s1.oracle_auc);
    assert!(s1.ctr > 0.02 && s1.ctr < 0.5, "ctr {}", s1.ctr);
    // Clicks follow the true probability: clicked impressions have a higher mean p.
    let truth = std::fs::read_to_string(a.path().join("truth.csv")).unwrap();
    let (mut p1, mut n1, mut p0, mut n0) = (0.0, 0.0, 0.0, 0.0);
    for line in truth.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let p: f64 = f[5].parse().unwrap();
        if f[6] == "1" { p1 += p; n1 += 1.0 } else { p0 += p; n0 += 1.0 }
    }
    assert!(p1 / n1 > p0 / n0 + 0.1, "clicked mean p {} vs {}", p1 / n1, p0 / n0);
    // The logit parts written beside p recompute it, and aff_long is the sum of its three parts.
    let header: Vec<&str> = truth.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[7..], ["rel", "aff_long", "aff_short", "a_cat", "a_brand", "a_band"]);
    let c = &cfg;
    for line in truth.lines().skip(1) {
        let f: Vec<f64> = line.split(',').skip(4).map(|v| v.parse().unwrap()).collect();
        let (pos, p, rel, long, short) = (f[0], f[1], f[3], f[4], f[5]);
        let z = c.b0 + c.b_rel * rel + c.b_long * long + c.b_short * short - c.b_pos * pos.ln();
        assert!((1.0 / (1.0 + (-z).exp()) - p).abs() < 1e-3, "{line}");
        assert!((f[6] + f[7] + f[8] - long).abs() < 1e-3, "{line}");
    }
    // It loads as a native log with queries, scenarios, positions, labels and items.
    let (d, rep) = load(&a.path().join("behaviors.csv"), &opts()).unwrap();
    assert_eq!(rep.rows_skipped, 0);
    assert_eq!(d.n_users(), 150);
    assert!(d.has_query() && d.has_scenario() && d.has_position() && d.has_label());
    assert_eq!((0..d.n_behaviors()).filter(|&r| d.is_impression(r)).count() as u64, s1.impressions);
    // Long-term taste: a user's favourite categories recur across the whole history far
    // more than the uniform 1/24: the top category's share of old behaviours is high.
    let mut top_share = 0.0;
    for u in 0..d.n_users() as u32 {
        let mut counts = std::collections::HashMap::new();
        for r in d.user_range(u).filter(|&r| !d.is_impression(r)) {
            *counts.entry(d.item_table.category[d.item[r] as usize]).or_insert(0usize) += 1;
        }
        let total: usize = counts.values().sum();
        top_share += *counts.values().max().unwrap_or(&0) as f64 / total.max(1) as f64;
    }
    top_share /= d.n_users() as f64;
    assert!(top_share > 3.0 / 24.0, "mean top-category share {top_share}");
}

#[test]
fn fingerprint_follows_the_bytes_not_the_path_or_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let log = "user_id,timestamp,item_id\nu1,10,a\nu1,20,b\nu2,15,a\n";
    let a = write(dir.path(), "a.csv", log);
    std::fs::create_dir(dir.path().join("copy")).unwrap();
    let b = write(&dir.path().join("copy"), "a.csv", log);
    let fa = load(&a, &LoadOptions::cached()).unwrap().1.fingerprint;
    let fb = load(&b, &LoadOptions::cached()).unwrap().1.fingerprint;
    assert_eq!(fa, fb, "same bytes elsewhere");
    // Rewriting the same bytes (new mtime) re-parses but keeps the identity.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&a, log).unwrap();
    let again = load(&a, &LoadOptions::cached()).unwrap().1;
    assert_eq!(again.fingerprint, fa);
    // One byte changed: another input.
    std::fs::write(&a, log.replace("u2,15", "u2,16")).unwrap();
    assert_ne!(load(&a, &LoadOptions::cached()).unwrap().1.fingerprint, fa);
    // An items table beside the log is part of the input.
    write(&dir.path().join("copy"), "items.csv", "item_id,title\na,Alpha\n");
    let with_items = load(&b, &LoadOptions::cached()).unwrap().1;
    assert_ne!(with_items.fingerprint, fb);
    // Runs recorded the first recipe's fingerprints; they still name the same input.
    let opts = LoadOptions::cached();
    let legacy = format!("{:016x}", lumlab::data::cache::legacy_fingerprint(&b, with_items.items_file.as_deref(), "format=None;roles=None").unwrap());
    assert_ne!(legacy, with_items.fingerprint);
    assert!(with_items.has_fingerprint(&with_items.fingerprint, &opts));
    assert!(with_items.has_fingerprint(&legacy, &opts));
    assert!(!with_items.has_fingerprint(&fb, &opts), "the log without its items table is another input");
    assert!(!with_items.has_fingerprint("0123456789abcdef", &opts));
}

#[test]
fn taobao_fast_and_careful_paths_agree_on_odd_lines() {
    let dir = tempfile::tempdir().unwrap();
    // CRLF, a blank line, a 19-digit id (careful path), an id above u32 (wide column),
    // bad rows with their line numbers, and a last line without a newline.
    let text = "1,10,5,pv,1511544070\r\n\
                1,11,5,fav,1511544071\n\
                \n\
                2,1234567890123456789,6,buy,1511544072\n\
                2,10,5,cart,abc\n\
                3,5000000000,7,pv,1511544073\n\
                3,12,7,click,1511544074\n\
                3,10,5,pv,1511544075";
    let p = write(dir.path(), "UserBehavior.csv", text);
    let (d, rep) = load(&p, &LoadOptions { format: Some(Format::Taobao), ..opts() }).unwrap();
    assert_eq!((d.n_users(), d.n_items(), d.n_behaviors()), (3, 4, 5));
    assert_eq!(rep.rows_skipped, 2);
    assert!(rep.first_errors[0].ends_with(":5: timestamp `abc` is not an integer"), "{:?}", rep.first_errors);
    assert!(rep.first_errors[1].ends_with(":7: unknown behavior `click`"), "{:?}", rep.first_errors);
    let names: Vec<(String, String, Action)> = rows(&d);
    assert_eq!(names[2], ("2".into(), "1234567890123456789".into(), Action::Buy));
    assert_eq!(names[3], ("3".into(), "5000000000".into(), Action::Click));
    assert_eq!(names[4], ("3".into(), "10".into(), Action::Click));
    // Items are interned in first-seen order with their first category.
    assert_eq!(d.items.name(0), "10");
    assert_eq!(d.item_table.category_name(d.items.get("5000000000").unwrap()), Some("7"));
}

#[test]
fn timestamps_outside_the_years_0000_to_9999_are_bad_rows_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // A 12-digit Taobao time (seconds past the year 9999) and a broken ISO offset next to good rows.
    let p = write(dir.path(), "UserBehavior.csv", "1,10,5,pv,1511544070\n1,11,5,pv,999999999999\n1,12,5,pv,1511544072\n");
    let (d, rep) = load(&p, &LoadOptions { format: Some(Format::Taobao), ..opts() }).unwrap();
    assert_eq!(d.n_behaviors(), 2);
    assert!(rep.first_errors[0].ends_with(":2: timestamp `999999999999` is outside the years 0000-9999"), "{:?}", rep.first_errors);
    let text = "user_id,timestamp,item_id\na,2017-11-25T12:00:00Z,x\na,99999-01-01,y\na,2017-11-25T12:00:00+1\u{e9}1,z\nb,1511544070,x\nb,-99999999999999,y\n";
    let p = write(dir.path(), "log.csv", text);
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!(d.n_behaviors(), 2);
    assert_eq!(rep.rows_skipped, 3);
    assert!(rep.first_errors[0].ends_with(":3: timestamp `99999-01-01` is outside the years 0000-9999"), "{:?}", rep.first_errors);
    assert!(rep.first_errors[1].ends_with(":4: timestamp `2017-11-25T12:00:00+1\u{e9}1` is not a number or ISO 8601 date"), "{:?}", rep.first_errors);
    assert!(rep.first_errors[2].ends_with(":6: timestamp `-99999999999999` is outside the years 0000-9999"), "{:?}", rep.first_errors);
    // JSON lines: a time too large for 64 bits, and true/false (not a time).
    let text = "{\"user_id\":\"a\",\"timestamp\":18446744073709551615,\"item_id\":\"x\"}\n{\"user_id\":\"a\",\"timestamp\":true,\"item_id\":\"y\"}\n{\"user_id\":\"a\",\"timestamp\":1.5e9,\"item_id\":\"z\"}\n";
    let p = write(dir.path(), "log.jsonl", text);
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!((d.n_behaviors(), rep.rows_skipped), (1, 2));
    assert!(rep.first_errors[0].ends_with(":1: timestamp `18446744073709551615` is outside the years 0000-9999"), "{:?}", rep.first_errors);
    assert!(rep.first_errors[1].ends_with(":2: timestamp must be a number or a string, not true/false"), "{:?}", rep.first_errors);
}

#[test]
fn semicolon_tables_load_and_utf16_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "export.csv", "item_id;user_id;timestamp;label\nx;a;1;1\ny;a;2;0\nx;b;3;1\n");
    let (d, rep) = load(&p, &opts()).unwrap();
    assert!(rep.detection.contains("`;`-separated"), "{}", rep.detection);
    assert_eq!((d.n_users(), d.n_items(), d.n_behaviors()), (2, 2, 3));
    assert_eq!(d.label, vec![1, 0, 1]);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend("user_id,timestamp,item_id\na,1,x\n".encode_utf16().flat_map(u16::to_le_bytes));
    let p = dir.path().join("wide.csv");
    std::fs::write(&p, utf16).unwrap();
    let e = load(&p, &opts()).unwrap_err().to_string();
    assert!(e.ends_with("wide.csv:1: invalid UTF-8: the file is UTF-16 text; save it as UTF-8"), "{e}");
    let p = write(dir.path(), "mac.csv", "user_id,timestamp,item_id\ra,1,x\ra,2,y\r");
    let e = load(&p, &opts()).unwrap_err().to_string();
    assert!(e.ends_with("mac.csv: lines end with a lone carriage return (CR); save the file with LF or CRLF line ends"), "{e}");
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_id() {
    let dir = tempfile::tempdir().unwrap();
    let bom = |s: &str| [b"\xEF\xBB\xBF".as_slice(), s.as_bytes()].concat();
    for (name, text, format) in [
        ("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n", Some(Format::MovieLens)),
        ("seq.txt", "1 10\n1 11\n2 10\n", Some(Format::Sasrec)),
        ("UserBehavior.csv", "1,10,5,pv,1511544070\n1,11,5,pv,1511544080\n2,10,5,buy,1511544090\n", Some(Format::Taobao)),
        ("log.jsonl", "{\"user_id\":\"1\",\"timestamp\":1,\"item_id\":\"10\"}\n{\"user_id\":\"1\",\"timestamp\":2,\"item_id\":\"11\"}\n{\"user_id\":\"2\",\"timestamp\":3,\"item_id\":\"10\"}\n", None),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bom(text)).unwrap();
        let (d, rep) = load(&p, &LoadOptions { format, ..opts() }).unwrap();
        assert_eq!((d.n_users(), d.n_behaviors(), rep.rows_skipped), (2, 3, 0), "{name}: {:?}", rep.first_errors);
    }
}

#[test]
fn a_strict_load_does_not_take_a_cache_with_skipped_rows_and_names_the_path_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "b.csv", "user_id,timestamp,item_id\nu1,1500000000,a\nu1,bad,b\nu2,1500000200,a\n");
    let cached = LoadOptions { use_cache: true, ..opts() };
    let (_, rep) = load(&p, &cached).unwrap();
    assert_eq!(rep.rows_skipped, 1);
    // The same file by another name: the cache is used and the report names it as asked.
    let other = dir.path().join(".").join("b.csv");
    let (_, rep) = load(&other, &cached).unwrap();
    assert!(rep.from_cache);
    assert_eq!(rep.source, other);
    assert!(rep.first_errors[0].starts_with(&format!("{}:3: ", other.display())), "{:?}", rep.first_errors);
    let e = load(&p, &LoadOptions { strict: true, ..cached }).unwrap_err().to_string();
    assert!(e.contains("b.csv:3: "), "{e}");
}

#[test]
fn csv_line_numbers_count_crlf_ends_blank_lines_and_quoted_line_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "crlf.csv", "user_id,timestamp,item_id\r\nu1,bad,a\r\nu1,1500000001,a\r\n");
    let e = load(&p, &LoadOptions { strict: true, ..opts() }).unwrap_err().to_string();
    assert!(e.contains("crlf.csv:2: "), "{e}");
    let p = write(dir.path(), "gaps.csv", "user_id,timestamp,item_id,query\nu1,1500000000,a,\"two\r\nlines\"\n\n\n\r\n\nu1,bad,b,q\nu1,1500000002,c,q\nu1,worse,d,q\n");
    let (d, rep) = load(&p, &opts()).unwrap();
    assert_eq!((d.n_behaviors(), rep.rows_skipped), (2, 2));
    assert!(rep.first_errors[0].contains("gaps.csv:8: "), "{:?}", rep.first_errors);
    assert!(rep.first_errors[1].contains("gaps.csv:10: "), "{:?}", rep.first_errors);
}

#[test]
fn movielens_csv_columns_are_found_by_header_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ratings.csv", "movieId,userId,timestamp,rating\n1193,1,978300760,5\n661,1,978302109,3.5\n1193,2,978298413,4\n");
    let (d, rep) = load(&p, &LoadOptions { format: Some(Format::MovieLens), ..opts() }).unwrap();
    assert_eq!((d.n_users(), d.n_items(), d.n_behaviors(), rep.rows_skipped), (2, 2, 3, 0));
    assert_eq!(d.base_ts + i64::from(*d.ts.iter().max().unwrap()), 978302109);
    let mut ratings: Vec<f32> = d.rating.to_vec();
    ratings.sort_by(f32::total_cmp);
    assert_eq!(ratings, vec![3.5, 4.0, 5.0]);
    // No header: every line is a rating, in the fixed order.
    let p = write(dir.path(), "plain.csv", "1,1193,5,978300760\n1,661,3.5,978302109\n2,1193,4,978298413\n");
    let (d, _) = load(&p, &LoadOptions { format: Some(Format::MovieLens), ..opts() }).unwrap();
    assert_eq!(d.n_behaviors(), 3);
    let p = write(dir.path(), "odd.csv", "who,what,when\n1,2,3\n");
    let e = load(&p, &LoadOptions { format: Some(Format::MovieLens), ..opts() }).unwrap_err().to_string();
    assert!(e.contains("userId"), "{e}");
}
