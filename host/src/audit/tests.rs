use super::*;

fn trail(n: usize) -> (tempfile::TempDir, Audit) {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::open_at(tmp.path()).unwrap();
    let audit = Audit::open(&home).unwrap();
    for i in 0..n {
        audit
            .record(
                "admin:test",
                Event::Install,
                Some("com.example.p"),
                serde_json::json!({ "n": i }),
            )
            .unwrap();
    }
    (tmp, audit)
}

fn lines(tmp: &tempfile::TempDir) -> Vec<String> {
    std::fs::read_to_string(tmp.path().join(LOG))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(tmp: &tempfile::TempDir, lines: &[String]) {
    std::fs::write(tmp.path().join(LOG), lines.join("\n") + "\n").unwrap();
}

fn problem(audit: &Audit) -> Problem {
    let report = audit.verify().unwrap();
    assert!(!report.ok, "{report:?}");
    report.problem.unwrap()
}

#[test]
fn an_untouched_trail_verifies() {
    let (_tmp, audit) = trail(5);
    let report = audit.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 5);
}

#[test]
fn detects_an_edited_record() {
    let (tmp, audit) = trail(5);
    let mut l = lines(&tmp);
    l[2] = l[2].replace("\"n\":2", "\"n\":7");
    write_lines(&tmp, &l);
    let p = problem(&audit);
    assert_eq!(
        (p.kind, p.seq, p.line),
        (ProblemKind::Edited, 3, 3),
        "{p:?}"
    );
}

#[test]
fn detects_a_deleted_record() {
    let (tmp, audit) = trail(5);
    let mut l = lines(&tmp);
    l.remove(1);
    write_lines(&tmp, &l);
    let p = problem(&audit);
    assert_eq!((p.kind, p.seq), (ProblemKind::Deleted, 2), "{p:?}");
}

#[test]
fn detects_reordered_records() {
    let (tmp, audit) = trail(5);
    let mut l = lines(&tmp);
    l.swap(1, 2);
    write_lines(&tmp, &l);
    let p = problem(&audit);
    assert_eq!((p.kind, p.seq), (ProblemKind::Reordered, 2), "{p:?}");
}

#[test]
fn detects_an_inserted_record() {
    let (tmp, audit) = trail(5);
    let mut l = lines(&tmp);
    // A forged record that reuses the next sequence number and a copied MAC.
    let forged = l[2].replace("\"n\":2", "\"n\":99");
    l.insert(2, forged);
    write_lines(&tmp, &l);
    let p = problem(&audit);
    assert_eq!((p.kind, p.line), (ProblemKind::Inserted, 3), "{p:?}");
}

#[test]
fn detects_a_truncated_tail_through_the_head() {
    let (tmp, audit) = trail(5);
    let l = lines(&tmp);
    write_lines(&tmp, &l[..3]);
    let p = problem(&audit);
    assert_eq!((p.kind, p.seq), (ProblemKind::Truncated, 4), "{p:?}");
    assert!(p.message.contains("4 to 5"), "{}", p.message);
}

#[test]
fn a_torn_last_line_is_reported_and_hides_nothing() {
    let (tmp, audit) = trail(3);
    let path = tmp.path().join(LOG);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"seq\":4,\"time\":\"2026-");
    std::fs::write(&path, text).unwrap();
    let report = audit.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 3);
    assert_eq!(report.torn.as_ref().map(|t| t.line), Some(4));
    let (records, torn) = audit.read().unwrap();
    assert_eq!(records.len(), 3);
    assert!(torn.is_some());
    // The next append cuts the torn bytes, says so, and the chain goes on.
    audit
        .record("admin:test", Event::Remove, None, serde_json::json!({}))
        .unwrap();
    let report = audit.verify().unwrap();
    assert!(report.ok && report.torn.is_none(), "{report:?}");
    let (records, _) = audit.read().unwrap();
    let events: Vec<Event> = records.iter().map(|r| r.event).collect();
    assert_eq!(events[3..], [Event::Repair, Event::Remove]);
}

#[test]
fn a_record_written_before_a_crash_lost_the_head_update_still_chains() {
    let (tmp, audit) = trail(3);
    let head_before = std::fs::read(tmp.path().join(HEAD)).unwrap();
    audit
        .record("admin:test", Event::Install, None, serde_json::json!({}))
        .unwrap();
    // As if the process died between appending record 4 and updating the head.
    std::fs::write(tmp.path().join(HEAD), head_before).unwrap();
    audit
        .record("admin:test", Event::Install, None, serde_json::json!({}))
        .unwrap();
    let report = audit.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 5);
}

#[test]
fn since_accepts_times_and_durations() {
    assert!(parse_since("2026-11-21T10:00:00Z").is_ok());
    assert!(parse_since("2h").unwrap() < SystemTime::now());
    assert!(parse_since("yesterday-ish").is_err());
}

#[test]
fn detects_a_tail_cut_with_the_head_set_back_by_hand() {
    let (tmp, audit) = trail(5);
    let l = lines(&tmp);
    write_lines(&tmp, &l[..3]);
    // The attacker copies record 3's number and MAC into the head, without the key.
    let r3: Record = serde_json::from_str(&l[2]).unwrap();
    std::fs::write(
        tmp.path().join(HEAD),
        serde_json::json!({ "seq": 3, "mac": r3.mac, "seal": "00" }).to_string(),
    )
    .unwrap();
    let p = problem(&audit);
    assert_eq!(p.kind, ProblemKind::HeadMissing, "{p:?}");
    assert!(p.message.contains("forged"), "{}", p.message);
}

#[test]
fn detects_a_record_whose_number_was_changed_and_an_insert_with_a_new_number() {
    let (tmp, audit) = trail(5);
    let mut l = lines(&tmp);
    l[2] = l[2].replace("\"seq\":3", "\"seq\":9");
    write_lines(&tmp, &l);
    assert_eq!(problem(&audit).kind, ProblemKind::Edited);

    let (tmp, audit) = trail(5);
    let mut l = lines(&tmp);
    let forged = l[2].replace("\"seq\":3", "\"seq\":42");
    l.insert(2, forged);
    write_lines(&tmp, &l);
    let p = problem(&audit);
    assert_eq!((p.kind, p.line), (ProblemKind::Inserted, 3), "{p:?}");
}

#[test]
fn a_missing_head_is_recorded_not_papered_over() {
    let (tmp, audit) = trail(3);
    std::fs::remove_file(tmp.path().join(HEAD)).unwrap();
    assert_eq!(problem(&audit).kind, ProblemKind::HeadMissing);
    audit
        .record("admin:test", Event::Remove, None, serde_json::json!({}))
        .unwrap();
    let (records, _) = audit.read().unwrap();
    assert_eq!(records[3].event, Event::Repair);
    assert!(
        records[3].details["reason"]
            .as_str()
            .unwrap()
            .contains("missing")
    );
    assert_eq!(records[4].seq, 5);
    // The chain goes on, but verification fails on the gap until it is acknowledged.
    let p = problem(&audit);
    assert_eq!((p.kind, p.seq), (ProblemKind::Gap, 4), "{p:?}");
    assert!(
        p.message.contains("pincer audit acknowledge 4"),
        "{}",
        p.message
    );
}

#[test]
fn a_tail_cut_with_the_head_deleted_fails_until_an_admin_acknowledges_it() {
    // The attack: no key needed, cut the log's tail and delete the head.
    let (tmp, audit) = trail(3);
    let kept_at_3 = audit.head().unwrap().unwrap();
    for _ in 0..3 {
        audit
            .record("admin:test", Event::Install, None, serde_json::json!({}))
            .unwrap();
    }
    let kept_at_6 = audit.head().unwrap().unwrap();
    write_lines(&tmp, &lines(&tmp)[..3]);
    std::fs::remove_file(tmp.path().join(HEAD)).unwrap();
    // The next audited action continues the chain, and says where it was cut.
    audit
        .record("admin:test", Event::Install, None, serde_json::json!({}))
        .unwrap();
    let p = problem(&audit);
    assert_eq!((p.kind, p.seq), (ProblemKind::Gap, 4), "{p:?}");
    assert!(
        p.message.contains("records after 3 may have been cut"),
        "{}",
        p.message
    );
    // Acknowledging something else is refused; the gap itself is accepted once.
    assert!(matches!(
        audit.acknowledge("admin:test", 2, "x"),
        Err(AuditError::NoSuchGap { .. })
    ));
    // A copy of the head kept from before the cut shows what was lost; one from after
    // it (record 3) shows nothing up to it was.
    let report = audit.verify_against(&kept_at_6).unwrap();
    assert_eq!(report.problem.unwrap().kind, ProblemKind::Truncated);
    let report = audit.verify_against(&kept_at_3).unwrap();
    let p = report.problem.unwrap();
    assert_eq!(p.kind, ProblemKind::Gap);
    assert!(
        p.message.contains("record 3 is in the log"),
        "{}",
        p.message
    );
    let ack = audit
        .acknowledge("admin:test", 4, "checked against the off-site head")
        .unwrap();
    assert!(matches!(
        audit.acknowledge("admin:test", 4, "again"),
        Err(AuditError::NoSuchGap { .. })
    ));
    let report = audit.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.gaps.len(), 1);
    assert_eq!(report.gaps[0].acknowledged_by, Some(ack));
    assert_eq!(report.gaps[0].after, 3);
    assert_eq!(
        report.gaps[0].reason.as_deref(),
        Some("checked against the off-site head")
    );
}

#[test]
fn a_head_kept_elsewhere_catches_a_log_cut_back_with_its_head() {
    let (tmp, audit) = trail(3);
    let kept = audit.head().unwrap().unwrap();
    assert!(audit.verify_against(&kept).unwrap().ok);
    let head_then = std::fs::read(tmp.path().join(HEAD)).unwrap();
    for _ in 0..3 {
        audit
            .record("admin:test", Event::Install, None, serde_json::json!({}))
            .unwrap();
    }
    let later = audit.head().unwrap().unwrap();
    // Cut back to three records together with the head saved then: the log alone
    // verifies, the later copy does not.
    write_lines(&tmp, &lines(&tmp)[..3]);
    std::fs::write(tmp.path().join(HEAD), head_then).unwrap();
    assert!(audit.verify().unwrap().ok);
    let report = audit.verify_against(&later).unwrap();
    let p = report.problem.unwrap();
    assert_eq!((p.kind, p.seq), (ProblemKind::Truncated, 4), "{p:?}");
    // Everything deleted: only the copy can tell.
    std::fs::remove_file(tmp.path().join(LOG)).unwrap();
    std::fs::remove_file(tmp.path().join(HEAD)).unwrap();
    assert!(!audit.verify_against(&later).unwrap().ok);
    // A forged copy is refused.
    let forged = Head {
        seq: 1,
        ..later.clone()
    };
    assert!(matches!(
        audit.verify_against(&forged),
        Err(AuditError::HeadInvalid(_))
    ));
}

#[test]
fn a_batch_written_before_a_crash_lost_the_head_update_still_chains() {
    let (tmp, audit) = trail(2);
    let head_before = std::fs::read(tmp.path().join(HEAD)).unwrap();
    for i in 0..5 {
        audit.enqueue(
            "host",
            Event::HttpRequest,
            Some("p"),
            serde_json::json!({ "i": i }),
        );
    }
    audit.flush();
    // As if the process died after appending the batch, before the head update.
    std::fs::write(tmp.path().join(HEAD), head_before).unwrap();
    audit
        .record("admin:test", Event::Install, None, serde_json::json!({}))
        .unwrap();
    let report = audit.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 8);
}

#[test]
fn queued_records_keep_their_order_and_time_before_a_direct_one() {
    let (_tmp, audit) = trail(0);
    audit.enqueue(
        "host",
        Event::HttpRequest,
        Some("p"),
        serde_json::json!({ "n": 1 }),
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    audit
        .record(
            "host",
            Event::Fault,
            Some("p"),
            serde_json::json!({ "n": 2 }),
        )
        .unwrap();
    let (records, _) = audit.read().unwrap();
    let events: Vec<Event> = records.iter().map(|r| r.event).collect();
    assert_eq!(events, [Event::HttpRequest, Event::Fault]);
    assert!(records[0].time < records[1].time);
    assert!(audit.verify().unwrap().ok);
}

#[test]
fn clipped_texts_keep_whole_characters_and_say_where_they_were_cut() {
    assert_eq!(super::clipped("héllo", 5), "héllo");
    assert_eq!(super::clipped("héllo", 2), "hé…");
    assert_eq!(super::clipped("", 0), "");
}

#[test]
fn records_a_plugin_can_cause_at_will_are_bounded_and_counted() {
    let (_tmp, audit) = trail(0);
    for i in 0..1000 {
        audit.enqueue_limited(
            "host",
            Event::HttpDenied,
            Some("com.example.noisy"),
            serde_json::json!({ "i": i }),
        );
    }
    for i in 0..100 {
        audit
            .record_limited(
                "host",
                Event::ToolWithheld,
                Some("com.example.remote"),
                serde_json::json!({ "i": i }),
            )
            .unwrap();
    }
    // Another plugin has a window of its own.
    audit.enqueue_limited(
        "host",
        Event::HttpDenied,
        Some("com.example.quiet"),
        serde_json::json!({}),
    );
    audit.flush();
    let (records, _) = audit.read().unwrap();
    let count = |event: Event, plugin: &str| {
        records
            .iter()
            .filter(|r| r.event == event && r.plugin.as_deref() == Some(plugin))
            .count()
    };
    let limit = LIMITED_PER_WINDOW as usize;
    assert_eq!(count(Event::HttpDenied, "com.example.noisy"), limit);
    assert_eq!(count(Event::ToolWithheld, "com.example.remote"), limit);
    assert_eq!(count(Event::HttpDenied, "com.example.quiet"), 1);
    let suppressed: Vec<&Record> = records
        .iter()
        .filter(|r| r.event == Event::AuditSuppressed)
        .collect();
    assert_eq!(suppressed.len(), 2, "{suppressed:?}");
    let noisy = suppressed
        .iter()
        .find(|r| r.plugin.as_deref() == Some("com.example.noisy"))
        .unwrap();
    assert_eq!(noisy.details["event"], "http-denied");
    assert_eq!(noisy.details["suppressed"], 1000 - limit as u64);
    assert!(audit.verify().unwrap().ok);
}
