/*
 * random.c - the random bytes of mbedTLS's PSA layer in the static builds,
 * which build mbedTLS with MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG
 * (port/mbedtls/warren-config.h): straight from the kernel's getrandom(2)
 * (os_random, port/os.c), the source mbedTLS's entropy collector would
 * read, instead of a CTR-DRBG seeded by that collector. The worker's TLS
 * connections take theirs from the kernel too (tls.c). The host build keeps
 * Debian's mbedTLS as it is configured, which does not call this.
 */
#include <psa/crypto.h>

#include "os.h"

/* (Nothing when built against an mbedTLS configured otherwise.) */
#if defined(MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG)
psa_status_t mbedtls_psa_external_get_random(
	mbedtls_psa_external_random_context_t *context,
	uint8_t *output, size_t output_size, size_t *output_length)
{
	(void)context;
	*output_length = 0;
	if (os_random(output, output_size) < 0)
		return PSA_ERROR_INSUFFICIENT_ENTROPY;
	*output_length = output_size;
	return PSA_SUCCESS;
}
#endif
