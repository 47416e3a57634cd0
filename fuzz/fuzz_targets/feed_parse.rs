//! The directory feed: one GAR-ENT export file (either schema) read by the streaming reader,
//! then assembled into a directory.
//!
//! Properties: an error names the file and a line of it; records come in document order,
//! each on a line of the file; assembling never panics, whatever the records say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle::domain::school_scope::SchoolScope;
use passerelle::domain::IdEnt;
use passerelle::feed::{assemble, parse};

const FILE: &str = "B0_GAR-ENT_Complet_Eleve_0000.xml";

fuzz_target!(|data: &[u8]| {
    // Files are read as UTF-8 first (`archive::xml_document`); the reader gets text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let file = match parse::read(FILE, text) {
        Ok(file) => file,
        Err(e) => {
            assert_eq!(e.file, FILE);
            assert!(
                (1..=lines).contains(&e.line),
                "error on line {} of a {lines}-line file",
                e.line
            );
            return;
        }
    };
    let mut previous = 1;
    for r in &file.records {
        assert!(
            (previous..=lines).contains(&r.line),
            "record <{}> on line {} after line {previous}, in a {lines}-line file",
            r.element,
            r.line
        );
        previous = r.line;
    }
    let Ok(ent) = "B0".parse::<IdEnt>() else {
        return;
    };
    let files = [(FILE.to_string(), file)];
    if let Err(errors) = assemble::assemble(&ent, &files, &SchoolScope::default()) {
        assert!(!errors.is_empty(), "refused without a reason");
        for e in errors {
            assert!(e.line <= lines, "error on line {} of a {lines}-line file", e.line);
        }
    }
});
