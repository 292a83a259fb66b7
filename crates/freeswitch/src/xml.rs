//! Configuration files through the switch XML registry (`switch_xml_open_cfg`), so includes,
//! preprocessor variables and xml_curl all work.

use std::ffi::CStr;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::c_string;
use crate::ffi;

/// An open configuration section (`<configuration name="...">`); freed on drop.
pub struct ConfigFile {
    root: NonNull<ffi::switch_xml>,
    section: NonNull<ffi::switch_xml>,
}

impl ConfigFile {
    /// Opens `name` (e.g. `mod_rustflow.conf`); `None` when FreeSWITCH has no such section.
    pub fn open(name: &str) -> Option<ConfigFile> {
        let name = c_string(name, "configuration name").ok()?;
        let mut section: ffi::switch_xml_t = std::ptr::null_mut();
        // SAFETY: NUL-terminated name, a valid out-pointer, and no request parameters.
        let root =
            unsafe { ffi::switch_xml_open_cfg(name.as_ptr(), &mut section, std::ptr::null_mut()) };
        let root = NonNull::new(root)?;
        match NonNull::new(section) {
            Some(section) => Some(ConfigFile { root, section }),
            None => {
                // SAFETY: `root` came from switch_xml_open_cfg and is released exactly once.
                unsafe { ffi::switch_xml_free(root.as_ptr()) };
                None
            }
        }
    }

    /// The `<configuration>` element.
    pub fn section(&self) -> Node<'_> {
        Node {
            raw: self.section,
            _file: PhantomData,
        }
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        // SAFETY: `root` came from switch_xml_open_cfg; nodes borrowed from it cannot outlive
        // `self`, and it is released exactly once here.
        unsafe { ffi::switch_xml_free(self.root.as_ptr()) };
    }
}

/// An element of an open configuration file.
#[derive(Clone, Copy)]
pub struct Node<'f> {
    raw: NonNull<ffi::switch_xml>,
    _file: PhantomData<&'f ConfigFile>,
}

impl<'f> Node<'f> {
    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<Node<'f>> {
        let name = c_string(name, "element name").ok()?;
        // SAFETY: the node belongs to a live document (lifetime 'f); NUL-terminated name.
        let raw = unsafe { ffi::switch_xml_child(self.raw.as_ptr(), name.as_ptr()) };
        NonNull::new(raw).map(|raw| Node {
            raw,
            _file: PhantomData,
        })
    }

    /// All child elements called `name`, in document order.
    pub fn children(&self, name: &str) -> impl Iterator<Item = Node<'f>> + use<'f> {
        let mut next = self.child(name);
        std::iter::from_fn(move || {
            let current = next?;
            // SAFETY: `current` is a live node; `next` links siblings with the same name.
            let raw = unsafe { current.raw.as_ref().next };
            next = NonNull::new(raw).map(|raw| Node {
                raw,
                _file: PhantomData,
            });
            Some(current)
        })
    }

    /// An attribute's value, `""` when absent.
    pub fn attr(&self, name: &str) -> String {
        let Ok(name) = c_string(name, "attribute name") else {
            return String::new();
        };
        // SAFETY: live node, NUL-terminated name; attr_soft never returns NULL ("" instead),
        // but we check anyway; the value is owned by the document and copied here.
        unsafe {
            let value = ffi::switch_xml_attr_soft(self.raw.as_ptr(), name.as_ptr());
            if value.is_null() {
                String::new()
            } else {
                CStr::from_ptr(value).to_string_lossy().into_owned()
            }
        }
    }
}
