# Terraform >= 1.5 import blocks for account "mgmt": only for keys and secrets
# not managed by Terraform yet (docs/terraform.md).  Import ids: the KeyId of
# a key, the name of a secret (alicloud provider docs).

import {
  to = alicloud_kms_key.key_cn-hangzhou_10851a59-9470-3082-75c0-aca0a2ba495d
  id = "10851a59-9470-3082-75c0-aca0a2ba495d"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_14b5e4c2-20a8-3578-0b48-9f9fd2e4b67a
  id = "14b5e4c2-20a8-3578-0b48-9f9fd2e4b67a"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_196e3f8d-2155-8822-00a4-bca07ed1049f
  id = "196e3f8d-2155-8822-00a4-bca07ed1049f"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_1b73afb9-8efe-0368-5693-f889dc3f53da
  id = "1b73afb9-8efe-0368-5693-f889dc3f53da"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_1bb92894-bc7b-0df2-ebc1-b0658da52c4a
  id = "1bb92894-bc7b-0df2-ebc1-b0658da52c4a"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_1d760a7e-b334-9cd0-e32e-9e4abe0cd67d
  id = "1d760a7e-b334-9cd0-e32e-9e4abe0cd67d"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_1e9858b4-3b02-e3b4-7516-afbee4ae35f6
  id = "1e9858b4-3b02-e3b4-7516-afbee4ae35f6"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_1ebf0120-24d0-ad52-e45a-2d45fbd62bd5
  id = "1ebf0120-24d0-ad52-e45a-2d45fbd62bd5"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_259844bd-1354-33a8-a18a-fd5fbda8689f
  id = "259844bd-1354-33a8-a18a-fd5fbda8689f"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_2d102123-bd37-64e0-b0f9-8f40f3ddea13
  id = "2d102123-bd37-64e0-b0f9-8f40f3ddea13"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_331c3932-090c-9036-57f5-41691485f2fd
  id = "331c3932-090c-9036-57f5-41691485f2fd"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_3536feed-2eca-531c-c3eb-7191b03aa002
  id = "3536feed-2eca-531c-c3eb-7191b03aa002"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_3df6fe95-4d4b-60a6-8114-9b3e77d4baed
  id = "3df6fe95-4d4b-60a6-8114-9b3e77d4baed"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_3f62ab89-170f-c414-55fa-9c4fd8e9ee0c
  id = "3f62ab89-170f-c414-55fa-9c4fd8e9ee0c"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_418c14c7-91a3-be80-5e42-eae1b2a1af64
  id = "418c14c7-91a3-be80-5e42-eae1b2a1af64"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_46d574ab-b4b2-f03b-6cf3-57800f38bda6
  id = "46d574ab-b4b2-f03b-6cf3-57800f38bda6"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_48b259a5-20a2-8c68-b7fa-929eaeffb38c
  id = "48b259a5-20a2-8c68-b7fa-929eaeffb38c"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_491b0370-b97b-34b9-10e3-c12154a6e450
  id = "491b0370-b97b-34b9-10e3-c12154a6e450"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_4d421f3c-f65c-dcd9-1044-063226383e18
  id = "4d421f3c-f65c-dcd9-1044-063226383e18"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_57655ad4-d569-d22e-af6f-558a47d11feb
  id = "57655ad4-d569-d22e-af6f-558a47d11feb"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_5928fb7a-5471-6e5e-5c16-a35b38fa3959
  id = "5928fb7a-5471-6e5e-5c16-a35b38fa3959"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_5c5d907e-2dc7-2db3-7990-0c15a8cc6b08
  id = "5c5d907e-2dc7-2db3-7990-0c15a8cc6b08"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_5c98bf25-f1e7-636e-d75e-274b37a1e768
  id = "5c98bf25-f1e7-636e-d75e-274b37a1e768"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_698bbcc6-a2a6-6dfa-210c-ae706ac43b63
  id = "698bbcc6-a2a6-6dfa-210c-ae706ac43b63"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_7012cbd8-4b84-960b-2776-a264027adcff
  id = "7012cbd8-4b84-960b-2776-a264027adcff"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_709af339-b92e-2edc-096a-d5fead7c2b8d
  id = "709af339-b92e-2edc-096a-d5fead7c2b8d"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_7dcab993-86f1-e111-b535-9e5f44c8a249
  id = "7dcab993-86f1-e111-b535-9e5f44c8a249"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_84c5be05-0f90-f6da-0065-36b08fe03877
  id = "84c5be05-0f90-f6da-0065-36b08fe03877"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_857dcfe1-085f-2a00-222d-a32b3f3c4344
  id = "857dcfe1-085f-2a00-222d-a32b3f3c4344"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_8a1e0fd6-a40e-217a-d6df-2d9744fefb93
  id = "8a1e0fd6-a40e-217a-d6df-2d9744fefb93"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_8e9f77df-3e4d-4549-5e4a-903a6d3b50b2
  id = "8e9f77df-3e4d-4549-5e4a-903a6d3b50b2"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_8f6b9874-abec-53f2-147a-ad4ef36814b1
  id = "8f6b9874-abec-53f2-147a-ad4ef36814b1"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_9123e43b-b2bd-bac2-74a1-f2d2b9fecca4
  id = "9123e43b-b2bd-bac2-74a1-f2d2b9fecca4"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_9c191607-21fb-7dda-cb74-61ee3dcc3b68
  id = "9c191607-21fb-7dda-cb74-61ee3dcc3b68"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_9dfbe7a7-c551-eb2d-30ad-b11cdde22ab0
  id = "9dfbe7a7-c551-eb2d-30ad-b11cdde22ab0"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_a0248618-f036-9cc7-3703-846fa6ee12cc
  id = "a0248618-f036-9cc7-3703-846fa6ee12cc"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_a137afe4-c945-4729-f620-3e180c1985a0
  id = "a137afe4-c945-4729-f620-3e180c1985a0"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_a1df785e-660a-281a-0d55-fbbcdc05ac66
  id = "a1df785e-660a-281a-0d55-fbbcdc05ac66"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_a65819e8-3dff-29b8-89aa-e84c5aae5c3b
  id = "a65819e8-3dff-29b8-89aa-e84c5aae5c3b"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_a9236d88-ee5f-7941-9b9e-c1e4945eab2e
  id = "a9236d88-ee5f-7941-9b9e-c1e4945eab2e"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_aad29641-3004-3ed0-ac10-923d7001388a
  id = "aad29641-3004-3ed0-ac10-923d7001388a"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_ac9a7d46-cb55-a6e8-053c-f185cab49efc
  id = "ac9a7d46-cb55-a6e8-053c-f185cab49efc"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_b00bdcdf-f43c-77d6-9882-f65fab0f3767
  id = "b00bdcdf-f43c-77d6-9882-f65fab0f3767"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_b032138e-a91f-c1c7-a8e4-b1a15988d217
  id = "b032138e-a91f-c1c7-a8e4-b1a15988d217"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_b0a904d0-3158-3554-45e1-eaddf9a9afe4
  id = "b0a904d0-3158-3554-45e1-eaddf9a9afe4"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_b139ac58-b313-ee5e-afcc-c0b3a69a7b29
  id = "b139ac58-b313-ee5e-afcc-c0b3a69a7b29"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_b161476e-e23b-21d7-bd08-f922f4831d44
  id = "b161476e-e23b-21d7-bd08-f922f4831d44"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_b710e5b5-b752-f9f3-b3db-db645c8bf992
  id = "b710e5b5-b752-f9f3-b3db-db645c8bf992"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_d0e10b19-c31d-5f7e-ab77-7f4b848b0d2d
  id = "d0e10b19-c31d-5f7e-ab77-7f4b848b0d2d"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_d8f59304-71d6-5358-b963-61c95670f0c7
  id = "d8f59304-71d6-5358-b963-61c95670f0c7"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_e0d59b2a-c97a-5929-5a47-fedaffa1320e
  id = "e0d59b2a-c97a-5929-5a47-fedaffa1320e"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_e4e1eae1-119e-866c-daa0-f74563bd90dd
  id = "e4e1eae1-119e-866c-daa0-f74563bd90dd"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_e82f4ef8-e1f5-583f-b68a-ec6a81389802
  id = "e82f4ef8-e1f5-583f-b68a-ec6a81389802"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_ef2cd4b7-b6db-5bd9-add7-08e4f1632c3f
  id = "ef2cd4b7-b6db-5bd9-add7-08e4f1632c3f"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_ef827c6a-f62c-c913-3b14-dbf18e705b77
  id = "ef827c6a-f62c-c913-3b14-dbf18e705b77"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_f14a62e2-ad21-139e-4782-d466b6e2366a
  id = "f14a62e2-ad21-139e-4782-d466b6e2366a"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_f669ccf7-ecc7-b7a9-482c-941491e14665
  id = "f669ccf7-ecc7-b7a9-482c-941491e14665"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_f73242fd-3226-6153-45cf-2b02d4df7e99
  id = "f73242fd-3226-6153-45cf-2b02d4df7e99"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_fe9856ab-157b-daa2-c1ca-81d69276da58
  id = "fe9856ab-157b-daa2-c1ca-81d69276da58"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_ecs-07_e4f5baae
  id = "demo/ecs-07"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_ecs-11_7bdc1d46
  id = "demo/ecs-11"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_generic-00_138b4d77
  id = "demo/generic-00"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_generic-04_0ec013c6
  id = "demo/generic-04"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_generic-08_d48392cb
  id = "demo/generic-08"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_ramcredentials-02_d9f47bea
  id = "demo/ramcredentials-02"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_ramcredentials-06_9ee1fda8
  id = "demo/ramcredentials-06"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_ramcredentials-10_23dec391
  id = "demo/ramcredentials-10"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_rds-01_cfc48179
  id = "demo/rds-01"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_rds-05_ae7ff833
  id = "demo/rds-05"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_demo_rds-09_ade0941c
  id = "demo/rds-09"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_1248072f-057f-49b7-4fe4-1427cbe1318a
  id = "1248072f-057f-49b7-4fe4-1427cbe1318a"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_518f3e74-7089-97dd-ebb5-2158b2d9c447
  id = "518f3e74-7089-97dd-ebb5-2158b2d9c447"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_6af1062a-a01b-4612-ca53-ae590f8f0448
  id = "6af1062a-a01b-4612-ca53-ae590f8f0448"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_90f9fcfd-0f60-7915-abc0-3a1a7a690436
  id = "90f9fcfd-0f60-7915-abc0-3a1a7a690436"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_d3b67aac-c8ce-b183-d942-7f9cf578ad5b
  id = "d3b67aac-c8ce-b183-d942-7f9cf578ad5b"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_e4164864-8a24-24ed-b2d8-d3572448d2ef
  id = "e4164864-8a24-24ed-b2d8-d3572448d2ef"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_ed1d045c-e168-21cf-fe09-8699b29d7df5
  id = "ed1d045c-e168-21cf-fe09-8699b29d7df5"
}

import {
  to = alicloud_kms_secret.secret_cn-shanghai_sh_ecs-01_7eba75d8
  id = "sh/ecs-01"
}

import {
  to = alicloud_kms_secret.secret_cn-shanghai_sh_generic-01_e1fdb2dc
  id = "sh/generic-01"
}

import {
  to = alicloud_kms_secret.secret_cn-shanghai_sh_ram-01_84abdc31
  id = "sh/ram-01"
}
