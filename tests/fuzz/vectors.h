/* SPDX-License-Identifier: MIT */
/*
 * Known-answer material from tests/data/jwt/vectors.json (written by make-vectors.mjs): its
 * JWKS, issuer and client, and tokens that verify against them at its "now" (FUZZ_NOW).
 * tests/fuzz/make-vectors-h.py writes this file from vectors.json.
 */
#pragma once

#define FUZZ_VECTOR_ISSUER    "https://auth.example.com/oidc"
#define FUZZ_VECTOR_CLIENT_ID "device-app"
#define FUZZ_VECTOR_NONCE     "n-0S6_WzA2Mj"

static const char fuzz_vector_jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"x\":\"GMHov1it0RcCm1RgvOrFqfFR6jvBKWwuhxVg72XgRho\",\"y\":"
    "\"Y6l8c0DqDSxJqeXkj-xXdz2D2k6vUTX1jo_ZYsvM1Ac\",\"crv\":\"P-256\",\"kid\":\"b0HkBYWsMayy"
    "i2V9tmfac4JRJoWDWHYnLcklTBkcDI4\"},{\"kty\":\"EC\",\"x\":\"PF6XBO-cG49MEaYBAL_hUlDqsefpB"
    "2AYn2gK8XO6lZ6mXSK_qApZEOkvXzzgiBjz\",\"y\":\"79FsSsBUpJLjr5RK21aLLfrPkpEa21xj3XdHDb4SQn"
    "RlpTWTzUWlzoYiYdifN2eg\",\"crv\":\"P-384\",\"kid\":\"69K-myx6SnxvYVV014EN8W9uVXbRCejjQtn"
    "Fyfcpe3o\"},{\"kty\":\"EC\",\"x\":\"AC_hSd-IpPjcPRIgJrUFVc-yXb-Xf-qSz2BQ_L0BizamLTmDdPpX"
    "n07GA0BOE6Fl5H3NiHqpnPCkut9_j2kKA6Ib\",\"y\":\"AFeYZQE6tLwDzIUZOu_lVZt8inmkbl4pjtPba1L01"
    "HGrMK3ED6HZhvXDmGpy78S29RD6gNv8myksGlL4QsENifik\",\"crv\":\"P-521\",\"kid\":\"9Hd1V26BUH"
    "BgwAH1boUkI_hGGY1t4HE5-hCBkRrhY2o\"},{\"kty\":\"RSA\",\"n\":\"44inAolREPJWcKKs3ncKN6eJUD"
    "pmcQSxCdzWgzY6KCzV3ITlqYudbRs8dtuz6AHF6T8g-nUTfgWh-pQK5kPkl3Leacr9sAjFfqJpefSaAl0EaJTpZj"
    "2VuTkSNSnKk5_fhvFY-s6sBS8kvF0HTw1AcNufbi-5JNqBB7fekJJV1jeRxecmJxTcOfnpEn5agTWCi_Hxu2OhMS"
    "pr7Ir5Gt5d6ZAwfG9T5facrvAv5ALQhaoQZ_ZeaxxQEaunw1S9zGN4e2eVx8dXDs17HbUiF6E1ceej_TrrgCtCNP"
    "pk7ZcpsRyEEXGI_ymDw0rs97YRnPLh0_zs-iHQdbjLwlGtnMDn3w\",\"e\":\"AQAB\",\"kid\":\"LKJ3SQRC"
    "oZeKIx9cEwd1B3H97z-5GVYyxMt81R_6ut4\"},{\"kty\":\"RSA\",\"n\":\"3YG7gg9B2rD0RXqvzpa3wh4x"
    "gS3sO_6_WHfiRai73KWt8nMZUSlFuWbKZ3Xzn85qBNfS_50ciwEWc540BM7zTTBEYrLhFf4rPUrd2Wkk7DBAwX2w"
    "2iWq0XFmoClEHKKND0zi4ptDXXWB8ZPu8FVIORVhWRo_yNgg2j-W73hEMKw0R6mCbENk1IPmnqscsy7rBmyBeuZc"
    "BfOxC103gFrkTjhyRtb1y4ZHu7JDGmSlpLJmqck2Svoo3citS0xb7PjiIqRqf2uIXyPTWG1tyVuBo85lMbhsQR3F"
    "WSawkjj2c3cPWyJKQwBhw9Moo7L9FQuu9zIRtfAlGDg5HznFAuLZtUG4yYdNyPvf8Fjfz05ghi1lF3oAXlbnWFTB"
    "UZN44RwDbJoxyDuc6W-PUFDpcVMTf47Tf3LT8px3evTyvngohOcN5GCn_5ZURH7lsvK7MUC6-XHY-60dg6KT_ZP4"
    "BRGR1_RFJUn-HXspHsORCZx9qqpuLEdCxgDFDqdrEPW5lRgQM5MwJksMVz-OhC2954g1eegDHZQvDE3r0Xa4P_Hm"
    "tW_ploSDCykxFenHcfdhSLEbBPCdPWmFSrt-_dxOvHAsm4WHz1EJEdxdxjLBpN9Nc3eSIZI1FOSWnYpuub5qDL6N"
    "Y_qZWC1AOn_izViRizifGGm5FXCSEfwuCZDTGJESVQM\",\"e\":\"AQAB\",\"kid\":\"zSmzKaT5mbp6KxJsk"
    "aZiKGCi06V-kP2D8jPKTz7ryvA\"},{\"kty\":\"RSA\",\"n\":\"vPQ9PbUmP69gdGeWu6ULVs9lzqVu5hNzK"
    "-1sLOrovY1GzGgYviZ5ebxNzMo6_AKopo6LG8yuKON3OrduEzbV1nxGNWVhyWnuXQjVvfCiG-kaWScucvA7D7hP4"
    "Bc3OgMV1KOUv3-R66zDEQvarnxPKm2fisB5193VSnNuRDTQV2E\",\"e\":\"AQAB\",\"kid\":\"ZorB-0S01G"
    "5kZLGuvvoCp60iAQvKDei66aFl1pWyjlg\"},{\"kty\":\"RSA\",\"n\":\"k7f_3E4gYzXd4TAQaecqfHH57N"
    "IenGgGMSO1P7cKjvBNbMWdNZdejBHm-U4X4tJriZsm0ly-Z3BT8iBBHGTRoWlYPXtPOVRbnvAr3DYvJFmXI93J1n"
    "GyaqmGwPEM_b6RHSG5qZJyziJKBJJR1217d9xBNgQFEi4UJUcIiDBnXpolfv8x1sKeF-jyOg0XGwJCrgzjLEfCnO"
    "T7UQddfnNZCuTeoQdJCiPfdIBg27-Un6XKrBqilvUuVXLEzppRE4ttxIqJp844VCAm8Ew7pcIF4Bu1HKi6NOZRTo"
    "-DxqPcHpbi_OMKERzdq9j_zNo_QXR1_2e-u87_bVd7esIBwkW9yQ\",\"e\":\"AQAB\",\"kid\":\"-bxpqHvE"
    "ST7RXOY1NJJ13lGKtUJURiemv3iHGqLPwxM\",\"use\":\"enc\"},{\"kty\":\"RSA\",\"n\":\"s3XYS9xM"
    "hwuDspTv6M31EK0BsXWkeEm3nbCCdPcze5_zahP-eK0xdiZ-b7HhSuOGDkdg3mwYrm6ctQOezVBSXOyJaI_ILQ7i"
    "t7TjXchE-gDViVqUX24ZhAOtdT5Z4Vrkxcl6i1-HgPpUVPOeV5VuW-Cwh_mFzdn6GDJt8zkHl8Q5s4q0UWxrailj"
    "aiyH_ciu1lRUqAYGRdZ1k6BKtVylagLKo-Fmxf8T1r67STmAVqb8xZYySkL8cZPMXgkR7ZD0AHkNGp5lHOlr0UXv"
    "tERVeslZ_1Q7OFX0ffi-na6Sa8_CkTfpVvo18KJVmvDh3gdRs8GvV31zWX8ZSu0N2mLsLQ\",\"e\":\"AQAB\","
    "\"kid\":\"_oBrgZ1UBT13Tq1I0pdhTwCVm8r8B33lEXTj4_GXQUc\",\"alg\":\"RS256\",\"use\":\"sig"
    "\"}]}";

/* Tokens that verify (vectors.json cases with expect "ok"). */
static const char *const fuzz_vector_tokens[] = {
    /* es256 */
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImIwSGtCWVdzTWF5eWkyVjl0bWZhYzRKUkpvV0RXSFluTGNrbFRCa2NESTQi"
    "fQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vb2lkYyIsInN1YiI6ImU3MzhnN251bWYwMyIsImF1Z"
    "CI6ImRldmljZS1hcHAiLCJleHAiOjE4MDAwMDM2MDAsImlhdCI6MTc5OTk5OTk5MCwiYXV0aF90aW1lIjoxNzk5O"
    "Tk5OTgwLCJ1c2VybmFtZSI6ImFsaWNlIiwibmFtZSI6IkFsaWNlIExpZGRlbGwiLCJwaWN0dXJlIjpudWxsLCJyb"
    "2xlcyI6WyJhZG1pbiJdLCJvcmdhbml6YXRpb25zIjpbInBibDk1emx3a3p4NCJdLCJvcmdhbml6YXRpb25fcm9sZ"
    "XMiOlsicGJsOTV6bHdreng0Om1lbWJlciJdLCJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwMDAwfQ.0mr8QfZ76RBzFS"
    "rWQ-QLYA862AbE3bH3UIzjNX3NZ4K5SstiClofjcJ-cEQhKxNt7rghMT-AI-jAv9mrUwr9xQ",
    /* es384 */
    "eyJhbGciOiJFUzM4NCIsImtpZCI6IjY5Sy1teXg2U254dllWVjAxNEVOOFc5dVZYYlJDZWpqUXRuRnlmY3BlM28i"
    "fQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vb2lkYyIsInN1YiI6ImU3MzhnN251bWYwMyIsImF1Z"
    "CI6ImRldmljZS1hcHAiLCJleHAiOjE4MDAwMDM2MDAsImlhdCI6MTc5OTk5OTk5MCwiYXV0aF90aW1lIjoxNzk5O"
    "Tk5OTgwLCJ1c2VybmFtZSI6ImFsaWNlIiwibmFtZSI6IkFsaWNlIExpZGRlbGwiLCJwaWN0dXJlIjpudWxsLCJyb"
    "2xlcyI6WyJhZG1pbiJdLCJvcmdhbml6YXRpb25zIjpbInBibDk1emx3a3p4NCJdLCJvcmdhbml6YXRpb25fcm9sZ"
    "XMiOlsicGJsOTV6bHdreng0Om1lbWJlciJdLCJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwMDAwfQ.j8VMozUEDQR5qw"
    "sW4CV2kxFYLZAhe1DXVtDSyyVW5TQ1flb7MjzQqgiuo8WFK3ErorVpfVDKtTINH-cisOJfHVIj13OkTGi7QnxtP2"
    "3xKjt9eKeSnnMrDimcf9YVd-r1",
    /* es512 */
    "eyJhbGciOiJFUzUxMiIsImtpZCI6IjlIZDFWMjZCVUhCZ3dBSDFib1VrSV9oR0dZMXQ0SEU1LWhDQmtScmhZMm8i"
    "fQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vb2lkYyIsInN1YiI6ImU3MzhnN251bWYwMyIsImF1Z"
    "CI6ImRldmljZS1hcHAiLCJleHAiOjE4MDAwMDM2MDAsImlhdCI6MTc5OTk5OTk5MCwiYXV0aF90aW1lIjoxNzk5O"
    "Tk5OTgwLCJ1c2VybmFtZSI6ImFsaWNlIiwibmFtZSI6IkFsaWNlIExpZGRlbGwiLCJwaWN0dXJlIjpudWxsLCJyb"
    "2xlcyI6WyJhZG1pbiJdLCJvcmdhbml6YXRpb25zIjpbInBibDk1emx3a3p4NCJdLCJvcmdhbml6YXRpb25fcm9sZ"
    "XMiOlsicGJsOTV6bHdreng0Om1lbWJlciJdLCJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwMDAwfQ.AcBo_pF86hSlYk"
    "Y508_0zI0vxJJPeskH_MesVKqyLGe3aFnzAv67E7sJeHWigfwW9MfPEA1mSJ6nli1eT1OFoUj3AIlFRbRnAyI5bU"
    "sIv9Lu-_7KdrWNAMzCqAX9JyJvh7eeg43pg3a-RWQ-e_6xPb1SF-URlwMAh1Nk_LlewIwud2Sz",
    /* rs256 */
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IkxLSjNTUVJDb1plS0l4OWNFd2QxQjNIOTd6LTVHVll5eE10ODFSXzZ1dDQi"
    "fQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vb2lkYyIsInN1YiI6ImU3MzhnN251bWYwMyIsImF1Z"
    "CI6ImRldmljZS1hcHAiLCJleHAiOjE4MDAwMDM2MDAsImlhdCI6MTc5OTk5OTk5MCwiYXV0aF90aW1lIjoxNzk5O"
    "Tk5OTgwLCJ1c2VybmFtZSI6ImFsaWNlIiwibmFtZSI6IkFsaWNlIExpZGRlbGwiLCJwaWN0dXJlIjpudWxsLCJyb"
    "2xlcyI6WyJhZG1pbiJdLCJvcmdhbml6YXRpb25zIjpbInBibDk1emx3a3p4NCJdLCJvcmdhbml6YXRpb25fcm9sZ"
    "XMiOlsicGJsOTV6bHdreng0Om1lbWJlciJdLCJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwMDAwfQ.O3YBx5PRC94kAP"
    "PAKmyKRVAa8rfLNxcEkblE3_FiQB5fH1z4PHUiFvMkRHPPmf8HLIKAY_HV_MUCij4X9lfxMO8E-5Nupp7wn93QFI"
    "spClye8dT-eFHtaEjLQt3vkDFfpMYUnLX0txNTQChIe1CdXkpbO61jhCLF5Pvq_Ktiw8kbgZNAMkuHkU5QzEAxkb"
    "xaG5qCT-u0Cbk7toExb_47uk9SDqYwoBlZY0uWJSWRYb7XfU-I1B6XG2dAnPuKw9fs1R0J6Cy6tXbIs6ufAH9I2B"
    "FK5Xno9o9GSDb8fYqqdDps-1ZUPld5yaITK_gPuQbFDdhGDlbCJgC3tHw_pjSZYA",
    /* ps256 */
    "eyJhbGciOiJQUzI1NiIsImtpZCI6IkxLSjNTUVJDb1plS0l4OWNFd2QxQjNIOTd6LTVHVll5eE10ODFSXzZ1dDQi"
    "fQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vb2lkYyIsInN1YiI6ImU3MzhnN251bWYwMyIsImF1Z"
    "CI6ImRldmljZS1hcHAiLCJleHAiOjE4MDAwMDM2MDAsImlhdCI6MTc5OTk5OTk5MCwiYXV0aF90aW1lIjoxNzk5O"
    "Tk5OTgwLCJ1c2VybmFtZSI6ImFsaWNlIiwibmFtZSI6IkFsaWNlIExpZGRlbGwiLCJwaWN0dXJlIjpudWxsLCJyb"
    "2xlcyI6WyJhZG1pbiJdLCJvcmdhbml6YXRpb25zIjpbInBibDk1emx3a3p4NCJdLCJvcmdhbml6YXRpb25fcm9sZ"
    "XMiOlsicGJsOTV6bHdreng0Om1lbWJlciJdLCJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwMDAwfQ.KwjSSWBEdapMyR"
    "fNMFK_zNV1bCusx3vvb_161vD4XdV6GeJedk97J0ENiN-c10sa65XHbn_ZvNATnBXRANW-ijbUWHy0pz0WTbf437"
    "CkG3Y1tDmBMNzqv4OECo7wdqTLvbzRkZdID-mEk9SpT7xlAC2Ep0TtozHJC2Cy0mZfN-6w6dDL6AwuKb_4UyDlS1"
    "_JcNArEsc2VOetNA3w5jo6fJawDD1J05XdYxzKKgLPnU9lD3qJYyS7YCzqATT8Ea3QoEePMTN-Y-St70zbJVpRLB"
    "TxR59s5KYA_S1cMisCcMzMXXfc_ACYnyujcWbdz0D8sbYtGnmNty-8wxppR5O3Dw",
    /* rs256-jwks-alg */
    "eyJhbGciOiJSUzI1NiIsImtpZCI6Il9vQnJnWjFVQlQxM1RxMUkwcGRoVHdDVm04cjhCMzNsRVhUajRfR1hRVWMi"
    "fQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vb2lkYyIsInN1YiI6ImU3MzhnN251bWYwMyIsImF1Z"
    "CI6ImRldmljZS1hcHAiLCJleHAiOjE4MDAwMDM2MDAsImlhdCI6MTc5OTk5OTk5MCwiYXV0aF90aW1lIjoxNzk5O"
    "Tk5OTgwLCJ1c2VybmFtZSI6ImFsaWNlIiwibmFtZSI6IkFsaWNlIExpZGRlbGwiLCJwaWN0dXJlIjpudWxsLCJyb"
    "2xlcyI6WyJhZG1pbiJdLCJvcmdhbml6YXRpb25zIjpbInBibDk1emx3a3p4NCJdLCJvcmdhbml6YXRpb25fcm9sZ"
    "XMiOlsicGJsOTV6bHdreng0Om1lbWJlciJdLCJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwMDAwfQ.c2CpA2wpkZ70xw"
    "7NHbzElpHNLaoZ-J4JoGZWEtCFNaxatwK8sh5CG81vqC1Rdvn6ajJypqzUlAw6hg2y8aAEABOWAhxfyyocR2ok8j"
    "XmxseMyaHNc3tzXE72IMaE5cuk4SL3zdPXlp4gLT47TmQwNfwKPOgM9qYjduis6PdVlpL1WMU-PEdppbZM1pVk9j"
    "fHZh3_It105WDl0mYwhVrPiYzgKRQn-QYdz2l0vYxJgi3BunOp_TJy7cw0m5cU_reLOwRcKLwfHujHpmgoNMu2v-"
    "P32qA85B_jhdnVbyXUWigEbDvpXIDeSotLa19aGMlwHBFeZX263nUxZJkHu0rKmg",
    /* no-kid-single-candidate */
    "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20vb2lkYyIsInN1YiI6ImU3Mzh"
    "nN251bWYwMyIsImF1ZCI6ImRldmljZS1hcHAiLCJleHAiOjE4MDAwMDM2MDAsImlhdCI6MTc5OTk5OTk5MCwiYXV"
    "0aF90aW1lIjoxNzk5OTk5OTgwLCJ1c2VybmFtZSI6ImFsaWNlIiwibmFtZSI6IkFsaWNlIExpZGRlbGwiLCJwaWN"
    "0dXJlIjpudWxsLCJyb2xlcyI6WyJhZG1pbiJdLCJvcmdhbml6YXRpb25zIjpbInBibDk1emx3a3p4NCJdLCJvcmd"
    "hbml6YXRpb25fcm9sZXMiOlsicGJsOTV6bHdreng0Om1lbWJlciJdLCJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwMDA"
    "wfQ.S1bJ1JFKJ5kBs_7qiwsMP6ehSFGFxaUi1lWXE6o7CsYnpekjFVCHM_Z4C3aUQY-_0T4Gz9dQ9poltVccDxid"
    "Dbc30h5us55pFP26fCaHwcWHD9UHvijQzPW8Ro3ENZHH",
};
