//! The XML registry of the fake core: a small parser for the configuration text a test gives,
//! and `struct switch_xml` trees built from it with the exact C layout, linked the way the
//! switch's ezxml links them (`child`, `next` for same-name siblings, `sibling` between name
//! groups, `ordered` in document order), so the module can walk `next` as real code does.

use std::ffi::{CString, c_char};
use std::ptr;

/// `struct switch_xml`, from the shared bindings.
pub type SwitchXml = freeswitch_sys::switch_xml;

/// A parsed element.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    fn new(name: &str) -> Self {
        Element {
            name: name.to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
            text: String::new(),
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first `<configuration name="...">` anywhere below (or at) this element.
    pub fn find_configuration(&self, name: &str) -> Option<&Element> {
        if self.name == "configuration" && self.attr("name") == Some(name) {
            return Some(self);
        }
        self.children
            .iter()
            .find_map(|c| c.find_configuration(name))
    }
}

/// Parses a document into a synthetic root holding its top-level elements, so every
/// `switch_xml_open_cfg` hands out a root that is distinct from the configuration node.
pub fn parse_document(text: &str) -> Result<Element, String> {
    let mut parser = Parser { src: text, pos: 0 };
    let mut root = Element::new("document");
    loop {
        parser.skip_misc()?;
        if parser.at_end() {
            break;
        }
        if parser.peek() != Some('<') {
            return Err(parser.error("text outside any element"));
        }
        root.children.push(parser.element()?);
    }
    Ok(root)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }
    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn error(&self, what: &str) -> String {
        format!("config XML: {what} at byte {}", self.pos)
    }
    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }
    fn skip_until(&mut self, end: &str) -> Result<(), String> {
        match self.rest().find(end) {
            Some(i) => {
                self.pos += i + end.len();
                Ok(())
            }
            None => Err(self.error(&format!("missing `{end}`"))),
        }
    }
    /// Whitespace, comments and processing instructions.
    fn skip_misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_ws();
            if self.rest().starts_with("<!--") {
                self.skip_until("-->")?;
            } else if self.rest().starts_with("<?") {
                self.skip_until("?>")?;
            } else {
                return Ok(());
            }
        }
    }
    fn name(&mut self) -> Result<String, String> {
        let len = self
            .rest()
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '>' | '=' | '<'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error("expected a name"));
        }
        let name = self.rest()[..len].to_string();
        self.pos += len;
        Ok(name)
    }
    fn element(&mut self) -> Result<Element, String> {
        self.pos += 1; // '<'
        let mut el = Element::new(&self.name()?);
        loop {
            self.skip_ws();
            if self.rest().starts_with("/>") {
                self.pos += 2;
                return Ok(el);
            }
            if self.rest().starts_with('>') {
                self.pos += 1;
                break;
            }
            let name = self.name()?;
            self.skip_ws();
            if !self.rest().starts_with('=') {
                return Err(self.error(&format!("attribute `{name}` without a value")));
            }
            self.pos += 1;
            self.skip_ws();
            let quote = match self.peek() {
                Some(q @ ('"' | '\'')) => q,
                _ => return Err(self.error("attribute value must be quoted")),
            };
            self.pos += 1;
            let Some(len) = self.rest().find(quote) else {
                return Err(self.error("unterminated attribute value"));
            };
            let value = unescape(&self.rest()[..len]);
            self.pos += len + 1;
            el.attrs.push((name, value));
        }
        loop {
            let len = self.rest().find('<').unwrap_or(self.rest().len());
            el.text.push_str(&unescape(&self.rest()[..len]));
            self.pos += len;
            if self.at_end() {
                return Err(self.error(&format!("element `{}` is not closed", el.name)));
            }
            if self.rest().starts_with("<!--") {
                self.skip_until("-->")?;
            } else if self.rest().starts_with("</") {
                self.pos += 2;
                let name = self.name()?;
                if name != el.name {
                    return Err(self.error(&format!("`</{name}>` closes `<{}>`", el.name)));
                }
                self.skip_ws();
                if !self.rest().starts_with('>') {
                    return Err(self.error("expected `>`"));
                }
                self.pos += 1;
                el.text = el.text.trim().to_string();
                return Ok(el);
            } else {
                el.children.push(self.element()?);
            }
        }
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Everything one `switch_xml_open_cfg` allocated; dropped by `switch_xml_free(root)`.
pub struct Tree {
    pub root: *mut SwitchXml,
    nodes: Vec<*mut SwitchXml>,
    strings: Vec<CString>,
    attr_arrays: Vec<Box<[*mut c_char]>>,
}

// SAFETY: a Tree owns all its allocations; the raw pointers are only dereferenced under the
// core's lock or by the module thread that was handed the tree, as with the real registry.
unsafe impl Send for Tree {}

impl Tree {
    pub fn build(root: &Element) -> Tree {
        let mut tree = Tree {
            root: ptr::null_mut(),
            nodes: Vec::new(),
            strings: Vec::new(),
            attr_arrays: Vec::new(),
        };
        tree.root = tree.node(root, ptr::null_mut());
        // SAFETY: root was just allocated by `node` and is owned by this tree.
        unsafe { (*tree.root).is_switch_xml_root_t = freeswitch_sys::switch_bool_t::SWITCH_TRUE };
        tree
    }

    pub fn contains(&self, node: *const SwitchXml) -> bool {
        self.nodes.iter().any(|&n| ptr::eq(n, node))
    }

    fn string(&mut self, s: &str) -> *mut c_char {
        // Config text with an interior NUL cannot come from a real file; cut it there.
        let c = CString::new(s.split('\0').next().unwrap_or("")).unwrap_or_default();
        let p = c.as_ptr() as *mut c_char;
        self.strings.push(c);
        p
    }

    fn node(&mut self, el: &Element, parent: *mut SwitchXml) -> *mut SwitchXml {
        let mut attr: Vec<*mut c_char> = Vec::with_capacity(el.attrs.len() * 2 + 1);
        for (n, v) in &el.attrs {
            attr.push(self.string(n));
            attr.push(self.string(v));
        }
        attr.push(ptr::null_mut());
        let mut attr = attr.into_boxed_slice();
        let attr_ptr = attr.as_mut_ptr();
        self.attr_arrays.push(attr);
        let node = Box::into_raw(Box::new(SwitchXml {
            name: self.string(&el.name),
            attr: attr_ptr,
            txt: self.string(&el.text),
            free_path: ptr::null_mut(),
            off: 0,
            next: ptr::null_mut(),
            sibling: ptr::null_mut(),
            ordered: ptr::null_mut(),
            child: ptr::null_mut(),
            parent,
            flags: 0,
            is_switch_xml_root_t: freeswitch_sys::switch_bool_t::SWITCH_FALSE,
            refs: 0,
            open: ptr::null(),
            close: ptr::null(),
        }));
        self.nodes.push(node);
        let children: Vec<*mut SwitchXml> =
            el.children.iter().map(|c| self.node(c, node)).collect();
        // Link as ezxml does: first child, document order, same-name chains, group heads.
        let mut heads: Vec<(&str, *mut SwitchXml)> = Vec::new();
        let mut tails: Vec<*mut SwitchXml> = Vec::new();
        for (i, (&child, el)) in children.iter().zip(&el.children).enumerate() {
            // SAFETY: every pointer in `children` was allocated above and is owned by this tree.
            unsafe {
                if i == 0 {
                    (*node).child = child;
                } else {
                    let prev: *mut SwitchXml = children[i - 1];
                    (*prev).ordered = child;
                }
                match heads.iter().position(|(n, _)| *n == el.name) {
                    Some(g) => {
                        (*tails[g]).next = child;
                        tails[g] = child;
                    }
                    None => {
                        if let Some(&(_, last_head)) = heads.last() {
                            (*last_head).sibling = child;
                        }
                        heads.push((el.name.as_str(), child));
                        tails.push(child);
                    }
                }
            }
        }
        node
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        for &n in &self.nodes {
            // SAFETY: each node came from Box::into_raw in `node` and is freed exactly once here.
            drop(unsafe { Box::from_raw(n) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_links_like_ezxml() {
        let doc = parse_document(
            r#"<?xml version="1.0"?><!-- c --><configuration name="x.conf">
                <settings><param name="a" value="1&amp;2"/><other/><param name='b' value="2"/></settings>
            </configuration>"#,
        )
        .unwrap();
        let cfg = doc.find_configuration("x.conf").unwrap();
        assert_eq!(cfg.children[0].children.len(), 3);
        let tree = Tree::build(&doc);
        // SAFETY: walking a tree just built; it stays alive until the end of the test.
        unsafe {
            let cfg = (*tree.root).child;
            let settings = (*cfg).child;
            let p1 = (*settings).child;
            let p2 = (*p1).next;
            let other = (*p1).sibling;
            assert_eq!(
                std::ffi::CStr::from_ptr(*(*p1).attr.add(3)).to_str(),
                Ok("1&2")
            );
            assert_eq!(
                std::ffi::CStr::from_ptr(*(*p2).attr.add(1)).to_str(),
                Ok("b")
            );
            assert_eq!(
                std::ffi::CStr::from_ptr((*other).name).to_str(),
                Ok("other")
            );
            assert!((*p2).next.is_null());
            assert_eq!((*p1).ordered, other);
        }
    }

    #[test]
    fn rejects_mismatched_tags() {
        let err = parse_document("<a><b></a>").unwrap_err();
        assert!(err.contains("`</a>` closes `<b>`"), "{err}");
    }
}
