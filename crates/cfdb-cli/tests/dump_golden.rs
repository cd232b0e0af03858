//! For every golden file written by Python cfdb, `cfdb dump FILE --json` equals what the
//! MANIFEST says: the dataset fields, and every variable's kind, dimensions, shape, chunk
//! shape, stored dtype, attributes and values, floats bit for bit (numbers are compared from
//! their text, parsed with Rust's correctly rounded parser). `info --json` gives the stored
//! metadata exactly, and `--isel`/`--var` dump the right part.

use std::path::{Path, PathBuf};
use std::process::Command;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/cfdb");

/// A JSON value that keeps each number's text.
#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn at(&self, key: &str) -> &J {
        self.get(key)
            .unwrap_or_else(|| panic!("no key {key:?} in {self:?}"))
    }
    fn keys(&self) -> Vec<&str> {
        match self {
            J::Obj(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }
    fn arr(&self) -> &[J] {
        match self {
            J::Arr(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            J::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
}

/// A small strict JSON parser (numbers kept as text).
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn parse(text: &str) -> J {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing bytes after the JSON value");
        v
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
    }
    fn eat(&mut self, lit: &str) {
        assert!(
            self.s[self.i..].starts_with(lit.as_bytes()),
            "expected {lit} at byte {}",
            self.i
        );
        self.i += lit.len();
    }
    fn value(&mut self) -> J {
        self.ws();
        match self.s[self.i] {
            b'n' => {
                self.eat("null");
                J::Null
            }
            b't' => {
                self.eat("true");
                J::Bool(true)
            }
            b'f' => {
                self.eat("false");
                J::Bool(false)
            }
            b'"' => J::Str(self.string()),
            b'[' => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return J::Arr(v);
                }
                loop {
                    v.push(self.value());
                    self.ws();
                    match self.s[self.i] {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return J::Arr(v);
                        }
                        c => panic!("unexpected {:?} at {}", c as char, self.i),
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return J::Obj(m);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.ws();
                    self.eat(":");
                    let v = self.value();
                    m.push((k, v));
                    self.ws();
                    match self.s[self.i] {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return J::Obj(m);
                        }
                        c => panic!("unexpected {:?} at {}", c as char, self.i),
                    }
                }
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                assert!(self.i > start, "bad value at byte {start}");
                J::Num(String::from_utf8(self.s[start..self.i].to_vec()).unwrap())
            }
        }
    }
    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(h, 16).unwrap()
    }
    fn string(&mut self) -> String {
        self.eat("\"");
        let mut out = String::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => return out,
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4();
                            if (0xD800..0xDC00).contains(&cp) {
                                self.eat("\\u");
                                let lo = self.hex4();
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            out.push(char::from_u32(cp).unwrap());
                        }
                        _ => panic!("bad escape"),
                    }
                }
                _ => {
                    // Copy one UTF-8 sequence.
                    let start = self.i - 1;
                    let len = match c {
                        0..=0x7F => 1,
                        0xC0..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        _ => 4,
                    };
                    self.i = start + len;
                    out.push_str(std::str::from_utf8(&self.s[start..self.i]).unwrap());
                }
            }
        }
    }
}

fn is_int_text(s: &str) -> bool {
    !s.contains(['.', 'e', 'E'])
}

/// Exact comparison: integers by value, floats by their f64 bits, objects by key set.
fn same(a: &J, b: &J, path: &str, errs: &mut Vec<String>) {
    match (a, b) {
        (J::Null, J::Null) => {}
        (J::Bool(x), J::Bool(y)) if x == y => {}
        (J::Str(x), J::Str(y)) if x == y => {}
        (J::Num(x), J::Num(y)) => {
            let ok = match (is_int_text(x), is_int_text(y)) {
                (true, true) => x.parse::<i128>().unwrap() == y.parse::<i128>().unwrap(),
                (false, false) => {
                    x.parse::<f64>().unwrap().to_bits() == y.parse::<f64>().unwrap().to_bits()
                }
                _ => false,
            };
            if !ok {
                errs.push(format!("{path}: {x} != {y}"));
            }
        }
        (J::Arr(x), J::Arr(y)) => {
            if x.len() != y.len() {
                errs.push(format!("{path}: length {} != {}", x.len(), y.len()));
                return;
            }
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same(p, q, &format!("{path}[{i}]"), errs);
            }
        }
        (J::Obj(_), J::Obj(_)) => {
            let mut ka = a.keys();
            let mut kb = b.keys();
            ka.sort_unstable();
            kb.sort_unstable();
            if ka != kb {
                errs.push(format!("{path}: keys {ka:?} != {kb:?}"));
                return;
            }
            for k in ka {
                same(a.at(k), b.at(k), &format!("{path}.{k}"), errs);
            }
        }
        _ => errs.push(format!("{path}: {a:?} != {b:?}")),
    }
}

fn cfdb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cfdb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn manifest() -> J {
    Parser::parse(&std::fs::read_to_string(Path::new(DATA).join("MANIFEST.json")).unwrap())
}

fn file_of(entry: &J) -> PathBuf {
    Path::new(DATA).join(entry.at("file").str())
}

fn dump_json(args: &[&str]) -> J {
    let (code, out, err) = cfdb(args);
    assert_eq!(code, 0, "cfdb {args:?}: {err}");
    assert!(err.is_empty(), "stderr: {err}");
    assert!(out.ends_with("}\n"), "one JSON object and a newline");
    Parser::parse(&out)
}

#[test]
fn dump_json_equals_the_manifest() {
    let m = manifest();
    let files = m.at("files").arr();
    assert_eq!(files.len(), 10);
    let mut errs = Vec::new();
    for entry in files {
        let path = file_of(entry);
        let name = entry.at("file").str();
        let d = dump_json(&["dump", path.to_str().unwrap(), "--json"]);
        assert_eq!(
            d.keys(),
            [
                "dataset_type",
                "compression",
                "compression_level",
                "crs",
                "attrs",
                "variables"
            ],
            "{name}"
        );
        for (mine, theirs) in [
            ("dataset_type", "dataset_type"),
            ("compression", "compression"),
            ("compression_level", "compression_level"),
            ("crs", "crs"),
            ("attrs", "dataset_attrs"),
        ] {
            same(
                d.at(mine),
                entry.at(theirs),
                &format!("{name}.{mine}"),
                &mut errs,
            );
        }
        let vars = d.at("variables");
        let order: Vec<&str> = entry
            .at("variable_order")
            .arr()
            .iter()
            .map(J::str)
            .collect();
        assert_eq!(vars.keys(), order, "{name}: variable order");
        for (vname, want) in match entry.at("variables") {
            J::Obj(m) => m.as_slice(),
            _ => panic!(),
        } {
            let got = vars.at(vname);
            assert_eq!(
                got.keys(),
                [
                    "kind",
                    "dims",
                    "shape",
                    "chunk_shape",
                    "dtype",
                    "attrs",
                    "values"
                ],
                "{name}.{vname}"
            );
            for (mine, theirs) in [
                ("kind", "kind"),
                ("dims", "coords"),
                ("shape", "shape"),
                ("chunk_shape", "chunk_shape"),
                ("dtype", "dtype_metadata"),
                ("attrs", "attrs"),
                ("values", "values"),
            ] {
                same(
                    got.at(mine),
                    want.at(theirs),
                    &format!("{name}.{vname}.{mine}"),
                    &mut errs,
                );
            }
        }
    }
    assert!(
        errs.is_empty(),
        "{} differences:\n{}",
        errs.len(),
        errs.join("\n")
    );
}

#[test]
fn info_json_gives_the_stored_metadata() {
    let m = manifest();
    let mut errs = Vec::new();
    for entry in m.at("files").arr() {
        let path = file_of(entry);
        let name = entry.at("file").str();
        let d = dump_json(&["info", path.to_str().unwrap(), "--json"]);
        same(d.at("metadata"), entry.at("metadata"), name, &mut errs);
        same(d.at("attrs"), entry.at("dataset_attrs"), name, &mut errs);
        for (vname, want) in match entry.at("variables") {
            J::Obj(m) => m.as_slice(),
            _ => panic!(),
        } {
            same(
                d.at("variable_attrs").at(vname),
                want.at("attrs"),
                &format!("{name}.{vname}"),
                &mut errs,
            );
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

/// `a[r0][r1]...` of nested arrays.
fn slice(v: &J, ranges: &[(usize, usize)]) -> J {
    match ranges.split_first() {
        None => v.clone(),
        Some((&(a, b), rest)) => J::Arr(v.arr()[a..b].iter().map(|x| slice(x, rest)).collect()),
    }
}

#[test]
fn isel_and_var_dump_a_region() {
    let m = manifest();
    let entry = &m.at("files").arr()[0];
    let path = file_of(entry);
    // temp has dims (latitude 5, longitude 7, time 4); time is clamped and negative.
    let d = dump_json(&[
        "dump",
        path.to_str().unwrap(),
        "--json",
        "--var",
        "temp",
        "--var",
        "latitude",
        "--isel",
        "latitude=1:4",
        "--isel",
        "time=-2:99",
        "--isel",
        "longitude=3",
    ]);
    assert_eq!(d.at("variables").keys(), ["latitude", "temp"]);
    let mut errs = Vec::new();
    let temp = d.at("variables").at("temp");
    same(
        temp.at("selection"),
        &Parser::parse("[[1,4],[3,4],[2,4]]"),
        "selection",
        &mut errs,
    );
    same(
        temp.at("shape"),
        &Parser::parse("[5,7,4]"),
        "shape",
        &mut errs,
    );
    let want = slice(
        entry.at("variables").at("temp").at("values"),
        &[(1, 4), (3, 4), (2, 4)],
    );
    same(temp.at("values"), &want, "temp", &mut errs);
    let lat = d.at("variables").at("latitude");
    let want = slice(entry.at("variables").at("latitude").at("values"), &[(1, 4)]);
    same(lat.at("values"), &want, "latitude", &mut errs);
    same(
        lat.at("selection"),
        &Parser::parse("[[1,4]]"),
        "lat selection",
        &mut errs,
    );
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn text_dump_and_info_cover_every_variable() {
    let m = manifest();
    for entry in m.at("files").arr() {
        let path = file_of(entry);
        let p = path.to_str().unwrap();
        let (code, info, err) = cfdb(&["info", p]);
        assert_eq!(code, 0, "{err}");
        let (code, text, err) = cfdb(&["dump", p]);
        assert_eq!(code, 0, "{err}");
        for v in entry.at("variable_order").arr() {
            let v = v.str();
            assert!(
                info.lines().any(|l| l.trim_start().starts_with(v)),
                "info of {p} does not mention {v}:\n{info}"
            );
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{v} ("))),
                "dump of {p} does not show {v}"
            );
        }
    }
}
