package encoding

// Fast paths for the one time form Sophos sends, 2024-05-14T08:02:11.482Z:
// the ocsf, leef and asim_alert encoders read and write it without the
// time package's layout interpreter (which was a tenth of their CPU), with
// the calendar arithmetic of ingest.go and ecswriter.go. Any
// other form goes to the general parser or formatter, so the output is
// the same byte for byte (TestISOFastPaths).

// canonISO parses s when it is exactly YYYY-MM-DDTHH:MM:SS.sssZ with a
// valid calendar date and time, returning epoch milliseconds. Every parser
// it stands in for (parseISO8601, time.Parse with RFC 3339) accepts such
// text and reads the same instant; false means "use the general parser".
func canonISO(s []byte) (int64, bool) {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return 0, false
	}
	var bad byte
	d := func(i int) int {
		c := s[i] - '0'
		if c > 9 {
			bad |= 0x80
		}
		return int(c)
	}
	y := d(0)*1000 + d(1)*100 + d(2)*10 + d(3)
	mo := d(5)*10 + d(6)
	dd := d(8)*10 + d(9)
	hh := d(11)*10 + d(12)
	mi := d(14)*10 + d(15)
	ss := d(17)*10 + d(18)
	ms := d(20)*100 + d(21)*10 + d(22)
	if bad&0x80 != 0 || mo < 1 || mo > 12 || dd < 1 || dd > daysIn(mo, y) || hh > 23 || mi > 59 || ss > 59 {
		return 0, false
	}
	days := daysFromCivil(y, mo, dd)
	return ((days*24+int64(hh))*60+int64(mi))*60000 + int64(ss)*1000 + int64(ms), true
}

func daysIn(mo, y int) int {
	switch mo {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// appendISOMs appends epoch milliseconds ms as UTC
// YYYY-MM-DDTHH:MM:SS.sss followed by zone ("Z" or "+0000"): what
// time.UnixMilli(ms).UTC().AppendFormat with the matching layout writes.
// ok is false (nothing appended) outside years 0000-9999, where the time
// package's year format differs.
func appendISOMs(dst []byte, ms int64, zone string) ([]byte, bool) {
	days, rem := ms/86400000, ms%86400000
	if rem < 0 {
		days, rem = days-1, rem+86400000
	}
	y, mo, d := civilFromDays(days)
	if y < 0 || y > 9999 {
		return dst, false
	}
	two := func(v int) { dst = append(dst, byte('0'+v/10), byte('0'+v%10)) }
	two(y / 100)
	two(y % 100)
	dst = append(dst, '-')
	two(mo)
	dst = append(dst, '-')
	two(d)
	dst = append(dst, 'T')
	sec := int(rem / 1000)
	two(sec / 3600)
	dst = append(dst, ':')
	two(sec / 60 % 60)
	dst = append(dst, ':')
	two(sec % 60)
	f := int(rem % 1000)
	dst = append(dst, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
	return append(dst, zone...), true
}
