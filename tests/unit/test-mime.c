/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder: being written; exit 77 means skipped. */
int main(void) {
        return 77;
}
