# Exports the configuration of a recovery checkpoint only (CopySnapshotConfiguration 3, CopyVmStorage
# false) into a temporary folder, returns its files as base64 and removes the folder.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$vm = Get-HvsnapVm $in.vmId
$snap = @(Get-HvsnapSnapshots $vm | Where-Object { $_.InstanceID -eq [string]$in.snapshotId })
if ($snap.Count -eq 0) { Stop-Hvsnap 'not_found' "checkpoint $($in.snapshotId) of VM $($vm.ElementName) does not exist" @{ vm = $vm.ElementName } }
$dir = (New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) ('hvsnap-export-' + [guid]::NewGuid().ToString()))).FullName
try {
  $vmms = Get-HvsnapService 'Msvm_VirtualSystemManagementService'
  $esd = @(Get-CimAssociatedInstance -InputObject $vm -Association Msvm_SystemExportSettingData -ResultClassName Msvm_VirtualSystemExportSettingData)[0]
  $esd.CopySnapshotConfiguration = [byte]3
  $esd.SnapshotVirtualSystem = Get-HvsnapPath $snap[0]
  $esd.CopyVmStorage = $false
  # true by default: the .vmgs (vTPM keys, UEFI variables, Secure Boot state) and .vmrs come back
  # with the VM (the reasoning and sources: WmiHypervisorOptions.copyRuntimeInformation)
  $esd.CopyVmRuntimeInformation = [bool]$in.copyRuntimeInformation
  $esd.CreateVmExportSubdirectory = $false
  $esd.CaptureLiveState = [byte]0
  $esd.BackupIntent = [byte]1
  # 1709+: no differencing disks for the storage we do not copy
  if (@($esd.CimInstanceProperties | ForEach-Object { $_.Name }) -contains 'DisableDifferentialOfIgnoredStorage') { $esd.DisableDifferentialOfIgnoredStorage = $true }
  $call = Invoke-HvsnapMethod $vmms 'ExportSystemDefinition' @{ ComputerSystem = $vm; ExportDirectory = $dir; ExportSettingData = (ConvertTo-HvsnapEmbedded $esd) } ([int]$in.waitMs)
  if (-not $call.Ok) { ConvertTo-HvsnapJson ([ordered]@{ Result = $call.Result }); return }
  $files = @()
  foreach ($f in @(Get-ChildItem -LiteralPath $dir -Recurse -File)) {
    $rel = $f.FullName.Substring($dir.Length).TrimStart('\').Replace('\', '/')
    $files += [ordered]@{ Name = $rel; DataBase64 = [Convert]::ToBase64String([IO.File]::ReadAllBytes($f.FullName)) }
  }
  ConvertTo-HvsnapJson ([ordered]@{ Result = $call.Result; Files = $files })
} finally {
  Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction SilentlyContinue
}
