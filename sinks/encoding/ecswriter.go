package encoding

// Earliest and latest epoch milliseconds appendISOMillis writes: years 1
// to 9999.
const minISOMillis, maxISOMillis = -62135596800000, 253402300799999

// appendISOMillis writes epoch milliseconds (years 1 to 9999) as a quoted
// ISO-8601 UTC string: what AppendFormat(dst, "2006-01-02T15:04:05.000Z")
// writes, without the layout interpretation.
func appendISOMillis(dst []byte, ms int64) []byte {
	days, rem := ms/86400000, ms%86400000
	if rem < 0 {
		days, rem = days-1, rem+86400000
	}
	y, mo, d := civilFromDays(days)
	sec := int(rem / 1000)
	h, mi, s, f := sec/3600, sec/60%60, sec%60, int(rem%1000)
	return append(dst, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10), 'Z', '"')
}

// civilFromDays is the proleptic Gregorian date days after 1970-01-01
// (Howard Hinnant's civil_from_days; TestAppendISOMillisMatchesTime).
func civilFromDays(days int64) (y, m, d int) {
	z := days + 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := int(z - era*146097)
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + int(era)*400
	if m <= 2 {
		y++
	}
	return y, m, d
}
