package emulator

// Tables of realistic values. Strings that go into JSON verbatim are
// escaped once (see esc) when the tables are built.

var tenantNames = []string{
	"Northwind Traders", "Contoso Health", "Fabrikam Ltd", "Adatum Corporation", "Tailspin Toys",
	"Woodgrove Bank", "Margie's Travel", "Alpine Ski House", "Fourth Coffee", "Lucerne Publishing",
	"Proseware GmbH", "Coho Winery", "Wide World Importers", "Trey Research", "Café Société Genève",
	"Lamna Healthcare", "Blue Yonder Airlines", "Relecloud", "Humongous Insurance", "VanArsdel Ltd",
}

type person struct {
	first, last, login string
}

var people = []person{
	{"Maria", "Reyes", "mreyes"}, {"John", "Doe", "jdoe"}, {"Aisha", "Khan", "akhan"},
	{"Lars", "Øberg", "loberg"}, {"Chen", "Wei", "cwei"}, {"Emma", "O'Brien", "eobrien"},
	{"Tomás", "García", "tgarcia"}, {"Priya", "Nair", "pnair"}, {"Olivia", "Brown", "obrown"},
	{"Kenji", "Sato", "ksato"}, {"Noah", "Müller", "nmuller"}, {"Zoë", "Lambert", "zlambert"},
	{"Fatima", "Zahra", "fzahra"}, {"Liam", "Murphy", "lmurphy"}, {"Sofia", "Rossi", "srossi"},
}

type region struct{ id, geography string }

// regions used for tenants; partner and organization tenants alternate.
var regions = []region{{"eu01", "IE"}, {"us03", "US"}}

var billingTypes = []string{"term", "usage", "term", "trial"}

var malwareNames = []string{
	"Troj/Agent-BKXQ", "Mal/Generic-S", "Troj/Ransom-GZK", "Mal/EncPk-APV", "Troj/PSDl-LM", "EICAR-AV-Test",
	"Troj/Emotet-CZQ", "ML/PE-A", "Troj/Qbot-HF", "Mal/DrodZp-A", "Troj/MSIL-RXA", "Mal/HTMLGen-A",
}

var puaNames = []string{
	"PsExec", "WinExeSvc", "NirSoft NetPass", "TeamViewer", "AnyDesk", "uTorrent", "Cain & Abel",
	"NetCat", "Advanced IP Scanner", "Process Hacker", "Wireshark", "7-Zip Self-Extractor",
}

var amsiNames = []string{"AMSI/PSDl-A", "AMSI/Obfusc-B", "AMSI/PowerSploit-A", "AMSI/Cobalt-C", "AMSI/Invoke-Mimi-D"}

// pathTemplate is a file path; {u} stands for the user's login.
var winPaths = []string{
	`C:\Users\{u}\Downloads\invoice_0514.exe`,
	`C:\Users\{u}\AppData\Local\Temp\~df3a21.tmp`,
	`C:\Tools\PsExec64.exe`,
	`C:\Users\{u}\Desktop\Angebot für Müller.docm`,
	`C:\ProgramData\svc host\update.exe`,
	`C:\Users\{u}\OneDrive - Contoso\Q3 report's draft.xlsm`,
	`C:\Users\{u}\AppData\Roaming\updsvc.exe`,
	`C:\Windows\Temp\7zS1A2B.tmp\setup.exe`,
	`C:\Users\{u}\Downloads\请款单_2024.pdf.exe`,
	`\\fs01\share\Finance\Payroll 2024\payroll_macro.xlsm`,
}

var macPaths = []string{
	`/Users/{u}/Downloads/Installer.dmg`,
	`/Users/{u}/Library/LaunchAgents/com.apple.updater.plist`,
	`/Applications/Free Video Converter.app/Contents/MacOS/helper`,
	`/private/tmp/.x/agent`,
}

var linuxPaths = []string{
	`/tmp/.x/kworker`,
	`/var/www/html/uploads/shell.php`,
	`/home/{u}/.cache/miner`,
	`/opt/app/lib/log4j-core-2.14.1.jar`,
}

var webCategories = []string{"Gambling", "Adult/Sexually Explicit", "Hacking", "Phishing & Fraud", "Games", "Peer-to-Peer & Torrents", "Weapons", "Spyware & Malware"}
var webURLs = []string{
	"https://www.bet365.com", "http://free-games.example.net/play?id=42", "https://login-microsoftonline.example.com/oauth",
	"http://thepiratebay.example.org", "https://casino.example.com/bonus", "http://xn--80ak6aa92e.example.com",
	"https://pastebin.com/raw/x8Jd2kQp", "http://update-flash.example.info/player.exe",
}

type app struct{ name, category, signer string }

var controlledApps = []app{
	{"TeamViewer", "Remote management tool", "TeamViewer Germany GmbH"},
	{"AnyDesk", "Remote management tool", "philandro Software GmbH"},
	{"Dropbox", "Online storage", "Dropbox, Inc"},
	{"Spotify", "Media player", "Spotify AB"},
	{"WinSCP", "File transfer", "Martin Přikryl"},
	{"Steam", "Game", "Valve Corp."},
	{"PuTTY", "Remote management tool", "Simon Tatham"},
}

var devices = []struct{ name, kind string }{
	{"SanDisk Cruzer Blade", "Removable Storage"}, {"Apple iPhone", "Mobile Device"},
	{"Kingston DataTraveler 3.0", "Removable Storage"}, {"Logitech BRIO", "Bluetooth"},
	{"HL-DT-ST DVDRAM GP60NB50", "Optical Drive"},
}

var updateFailures = []string{
	"Failed to install Sophos Intercept X: Download of update failed (error 0x00000071)",
	"Update failed: Sophos AutoUpdate could not contact the server",
	"Failed to install Sophos Endpoint Agent: a reboot is required",
}

var nonCompliance = []string{
	"Windows Firewall is disabled", "Disk encryption is not enabled", "Sophos Anti-Virus is out of date",
	"Screen lock is not configured",
}

var ipsSignatures = []struct{ msg, cve string }{
	{"OS-WINDOWS Microsoft Windows SMB remote code execution attempt", "CVE-2017-0144"},
	{"SERVER-WEBAPP Apache Log4j logging remote code execution attempt", "CVE-2021-44228"},
	{"SERVER-OTHER Microsoft Exchange Server remote code execution attempt", "CVE-2021-26855"},
	{"OS-WINDOWS Microsoft Windows RDP BlueKeep remote code execution attempt", "CVE-2019-0708"},
	{"SERVER-MSSQL Microsoft SQL Server brute-force login attempt", ""},
}

var ipsExecutables = []struct{ name, path, version string }{
	{"sqlservr.exe", `C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\Binn\sqlservr.exe`, "2019.150.4360.2"},
	{"System", `C:\Windows\System32\ntoskrnl.exe`, "10.0.17763.5576"},
	{"w3wp.exe", `C:\Windows\System32\inetsrv\w3wp.exe`, "10.0.17763.1"},
	{"svchost.exe", `C:\Windows\System32\svchost.exe`, "10.0.22621.3527"},
	{"java.exe", `C:\Program Files\Java\jre1.8.0_281\bin\java.exe`, "8.0.2810.9"},
}

var amsiProcesses = []struct{ name, path, parent string }{
	{"powershell.exe", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, `C:\Windows\explorer.exe`},
	{"wscript.exe", `C:\Windows\System32\wscript.exe`, `C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE`},
	{"cscript.exe", `C:\Windows\System32\cscript.exe`, `C:\Windows\System32\cmd.exe`},
	{"mshta.exe", `C:\Windows\System32\mshta.exe`, `C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe`},
}

var cryptoguardProcesses = []struct{ name, path, version string }{
	{"updsvc.exe", `C:\Users\{u}\AppData\Roaming\updsvc.exe`, "1.0.3.7"},
	{"svch0st.exe", `C:\ProgramData\svch0st.exe`, "6.1.7601.1"},
	{"invoice viewer.exe", `C:\Users\{u}\Downloads\invoice viewer.exe`, "2.4.0.0"},
}

var serviceNames = []string{
	"HitmanPro.Alert service", "Sophos Anti-Virus", "Sophos AutoUpdate Service", "Sophos Endpoint Defense Service",
	"Sophos File Scanner Service", "Sophos MCS Agent", "Sophos Network Threat Protection", "Sophos Web Control Service",
}

var macServiceNames = []string{"Sophos Anti-Virus", "Sophos AutoUpdate Service", "Sophos Device Control", "Sophos Web Intelligence Service"}

var linuxServiceNames = []string{"Sophos Protection for Linux", "Sophos AutoUpdate Service", "Sophos MCS Agent"}
