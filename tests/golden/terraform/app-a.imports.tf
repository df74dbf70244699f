# Terraform >= 1.5 import blocks for account "app-a": only for keys and secrets
# not managed by Terraform yet (docs/terraform.md).  Import ids: the KeyId of
# a key, the name of a secret (alicloud provider docs).

import {
  to = alicloud_kms_key.key_cn-hangzhou_0c72fdd7-511d-0cf5-fa00-f08636739f89
  id = "0c72fdd7-511d-0cf5-fa00-f08636739f89"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_2ea0bb22-9fe7-a744-3897-85a3491be192
  id = "2ea0bb22-9fe7-a744-3897-85a3491be192"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_431fd8c7-5606-8f6b-1f3b-c02685f099ac
  id = "431fd8c7-5606-8f6b-1f3b-c02685f099ac"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_4e4fdcc7-09f5-1696-0aa7-6d0ba45f5e9d
  id = "4e4fdcc7-09f5-1696-0aa7-6d0ba45f5e9d"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_5050cf8e-0bec-ae0b-d584-5fdebd5ca5d8
  id = "5050cf8e-0bec-ae0b-d584-5fdebd5ca5d8"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_a0bbf9b7-ec21-0f4a-9715-c6d6672c060f
  id = "a0bbf9b7-ec21-0f4a-9715-c6d6672c060f"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_af7d4d2f-d973-091a-c4eb-2420ca16bda7
  id = "af7d4d2f-d973-091a-c4eb-2420ca16bda7"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_b48a26ea-0e03-0e77-aa1c-bf1f6c46a727
  id = "b48a26ea-0e03-0e77-aa1c-bf1f6c46a727"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_c915252e-a221-6b2b-fe6a-128fdb095663
  id = "c915252e-a221-6b2b-fe6a-128fdb095663"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_de2c0a49-7e2a-eb43-9a74-078c31de68db
  id = "de2c0a49-7e2a-eb43-9a74-078c31de68db"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_f89bc435-244e-5d22-6474-fde83d87a6f4
  id = "f89bc435-244e-5d22-6474-fde83d87a6f4"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_app-a_generic-hzz_af683c5f
  id = "app-a/generic-hzz"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_common_app-config_d3086615
  id = "common/app-config"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_7977c34b-27c7-cef3-7955-12a7c8de1900
  id = "7977c34b-27c7-cef3-7955-12a7c8de1900"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_87f0a7ec-01fe-6872-525c-c1efd8fceac3
  id = "87f0a7ec-01fe-6872-525c-c1efd8fceac3"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_b426d560-a1f8-7d8f-5bf6-78c607c408fd
  id = "b426d560-a1f8-7d8f-5bf6-78c607c408fd"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_bb3c3730-6a3d-2cc2-13ca-389015bf6d71
  id = "bb3c3730-6a3d-2cc2-13ca-389015bf6d71"
}

import {
  to = alicloud_kms_secret.secret_cn-shanghai_app-a_generic-shh_9efd048b
  id = "app-a/generic-shh"
}

import {
  to = alicloud_kms_secret.secret_cn-shanghai_common_app-config_827182ed
  id = "common/app-config"
}
