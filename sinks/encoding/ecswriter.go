package encoding

import "time"

// Earliest and latest epoch milliseconds appendISOMillis writes: years 1
// to 9999.
const minISOMillis, maxISOMillis = -62135596800000, 253402300799999

// appendISOMillis writes epoch milliseconds (years 1 to 9999) as a quoted
// ISO-8601 UTC string: what AppendFormat(dst, "2006-01-02T15:04:05.000Z")
// writes, without the layout interpretation.
func appendISOMillis(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	f := t.Nanosecond() / 1e6
	return append(dst, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10), 'Z', '"')
}
