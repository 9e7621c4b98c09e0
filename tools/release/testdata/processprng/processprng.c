/*
 * bcryptprimitives.dll for wine 8, which lacks ProcessPrng: Go >= 1.22
 * binaries import it for crypto/rand and the runtime's random seed. This
 * shim fills the buffer from RtlGenRandom (advapi32's SystemFunction036),
 * which wine has, in chunks of at most ULONG bytes. Built by the Windows
 * test with Debian's mingw-w64 and placed beside the .exe.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
	while (size > 0) {
		ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		size -= n;
	}
	return TRUE;
}
