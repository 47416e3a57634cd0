//! A namespace-aware reading of a document, as providers' clients read the gateway's answers
//! (Python's ElementTree with a namespace map, PHP's SimpleXML with a namespace): every
//! element with its namespace URI, local name, text and children, so that tests assert on
//! namespaces and fields rather than on substrings.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// One element: its namespace URI (`None` when unbound), local name, text and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The children named `name` in namespace `ns`.
    pub fn all(&self, ns: &str, name: &str) -> Vec<&Element> {
        self.children
            .iter()
            .filter(|c| c.ns.as_deref() == Some(ns) && c.name == name)
            .collect()
    }

    /// The text of the only child `name` in namespace `ns`; panics when there is not one.
    pub fn text_of(&self, ns: &str, name: &str) -> &str {
        let found = self.all(ns, name);
        assert_eq!(
            found.len(),
            1,
            "one <{name}> in {{{ns}}} expected in {self:#?}"
        );
        &found[0].text
    }

    /// The text of child `name` in namespace `ns`, if there is one.
    pub fn find(&self, ns: &str, name: &str) -> Option<&str> {
        self.all(ns, name).first().map(|e| e.text.as_str())
    }
}

/// Parses `xml` into its root element; panics on a malformed document.
pub fn parse(xml: &str) -> Element {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let (ns, event) = reader.read_resolved_event().expect("well-formed XML");
        let ns = match ns {
            ResolveResult::Bound(n) => Some(String::from_utf8(n.as_ref().to_vec()).unwrap()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => panic!("unknown prefix {p:?} in {xml}"),
        };
        let element = |local: &[u8]| Element {
            ns: ns.clone(),
            name: String::from_utf8(local.to_vec()).unwrap(),
            text: String::new(),
            children: Vec::new(),
        };
        match event {
            Event::Start(e) => stack.push(element(e.local_name().as_ref())),
            Event::Empty(e) => {
                let el = element(e.local_name().as_ref());
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return el,
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.unescape().unwrap());
                }
            }
            Event::End(_) => {
                let done = stack.pop().unwrap();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return done,
                }
            }
            Event::Eof => panic!("no root element in {xml}"),
            _ => {}
        }
    }
}
