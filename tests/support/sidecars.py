"""XMP sidecars as other programs write them, and hostile ones, for the sidecar and reliability tests."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from aescull.library import xmp


EXIFTOOL_SIDECAR = b"""<?xpacket begin='\xef\xbb\xbf' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 12.57'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>

 <rdf:Description rdf:about=''
  xmlns:xmp='http://ns.adobe.com/xap/1.0/'>
  <xmp:Rating>3</xmp:Rating>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&lol3;</dc:title></rdf:Description>
</rdf:RDF></x:xmpmeta>
"""

XXE = b"""<?xml version="1.0"?>
<!doctype x [ <!entity secret SYSTEM "file:///etc/passwd"> ]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&secret;</dc:title></rdf:Description>
</rdf:RDF></x:xmpmeta>
"""


def top_level_values(data: bytes) -> dict[tuple[str, str], str]:
    """Simple properties of the top-level descriptions, read independently of aescull's editor."""
    values = {}
    root = ElementTree.fromstring(data)
    for description in root.iter(f"{{{xmp.RDF_NS}}}Description"):
        for name, value in description.attrib.items():
            values[tuple(name[1:].split("}"))] = value
        for child in description:
            if len(child) == 0:
                values[tuple(child.tag[1:].split("}"))] = (child.text or "").strip()
    return values
