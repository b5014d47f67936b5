"""CalDAV calendars (Fastmail, iCloud, Nextcloud, Radicale, any RFC 4791 server).

A thin client on httpx and the standard library's ElementTree: the few DAV requests
calsync needs (PROPFIND, REPORT, GET, PUT) fit in one small module, where the ``caldav``
package would bring twenty more packages into the install, one of them replacing
``urllib3`` under the Google libraries' feet. Imported only when a calendar uses it.
"""
